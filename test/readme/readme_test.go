// Package readme runs the README's tour as written: the shell blocks in
// order, in one POSIX shell (so the variables a block sets reach the later
// ones), against a fresh `tongxing serve`, with the binary built once as
// ./tongxing. Blocks fenced "sh skip" (other hosts, /srv, a remote
// PostgreSQL, tools CI lacks) are not run. A block's "# -> TEXT" comments
// must appear in its output and its "# file: PATH" comments name files it
// must have written. The server listens on free ports: localhost:8443 and
// localhost:8080 in the blocks are replaced with them.
package readme

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tongxing/tongxing/test/serverproc"
)

var binary string

func TestMain(m *testing.M) { serverproc.Main(m, &binary) }

// block is one fenced shell block of the README.
type block struct {
	line  int    // of the opening fence
	skip  bool   // fenced "sh skip"
	text  string // the commands
	wants []string
	files []string
}

var fence = regexp.MustCompile("^```(\\S*)(.*)$")

// parseBlocks returns the README's sh blocks in order.
func parseBlocks(readme string) ([]block, error) {
	var (
		blocks []block
		cur    *block
		body   []string
	)
	for i, l := range strings.Split(readme, "\n") {
		m := fence.FindStringSubmatch(l)
		switch {
		case m != nil && cur == nil && m[1] != "":
			if m[1] == "sh" {
				cur = &block{line: i + 1, skip: strings.TrimSpace(m[2]) == "skip"}
				if rest := strings.TrimSpace(m[2]); rest != "" && rest != "skip" {
					return nil, fmt.Errorf("README.md:%d: unknown fence info %q (sh or sh skip)", i+1, l)
				}
			} else {
				cur = &block{line: -1} // another language: not run
			}
			body = nil
		case m != nil && cur != nil && m[1] == "":
			if cur.line > 0 {
				cur.text = strings.Join(body, "\n") + "\n"
				blocks = append(blocks, *cur)
			}
			cur = nil
		case cur != nil:
			body = append(body, l)
			t := strings.TrimSpace(l)
			if w, ok := strings.CutPrefix(t, "# -> "); ok {
				cur.wants = append(cur.wants, w)
			}
			if f, ok := strings.CutPrefix(t, "# file: "); ok {
				cur.files = append(cur.files, f)
			}
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("README.md: unterminated code block")
	}
	return blocks, nil
}

func TestParseBlocks(t *testing.T) {
	blocks, err := parseBlocks("x\n```sh\na=1\n# -> one\n# file: f\n```\n```yaml\nk: v\n```\n```sh skip\nrm -rf /\n```\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) != 2 || blocks[0].skip || !blocks[1].skip || blocks[0].wants[0] != "one" || blocks[0].files[0] != "f" || blocks[0].line != 2 {
		t.Fatalf("%+v", blocks)
	}
	if _, err := parseBlocks("```sh bash\necho\n```\n"); err == nil {
		t.Error("an unknown fence was accepted")
	}
}

// TestShBlocksArePOSIX refuses bash-only syntax in the blocks a reader
// pastes into sh: process substitution, [[ ]], arrays, source.
func TestShBlocksArePOSIX(t *testing.T) {
	blocks := readmeBlocks(t)
	bashisms := regexp.MustCompile(`<\(|>\(|\[\[|\bsource\b|\$\{[A-Za-z_]+\[|^\s*[A-Za-z_]+=\(|\bfunction\b|&>`)
	for _, b := range blocks {
		for _, l := range strings.Split(b.text, "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), "#") {
				continue
			}
			if bashisms.MatchString(l) {
				t.Errorf("README.md:%d: not POSIX sh: %s", b.line, l)
			}
		}
		if sh, err := exec.LookPath("dash"); err == nil {
			if out, err := exec.Command(sh, "-n", "-c", b.text).CombinedOutput(); err != nil {
				t.Errorf("README.md:%d: dash -n: %v\n%s", b.line, err, out)
			}
		}
	}
}

func readmeBlocks(t *testing.T) []block {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := parseBlocks(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return blocks
}

// TestTour runs the tour.
func TestTour(t *testing.T) {
	for _, tool := range []string{"openssl", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			serverproc.Missing(t, "%s is not installed on this machine (CI installs it)", tool)
		}
	}
	blocks := readmeBlocks(t)
	dir, scripts := t.TempDir(), t.TempDir()
	bin := filepath.Join(dir, "tongxing")
	if err := copyFile(binary, bin); err != nil {
		t.Fatal(err)
	}
	repo, _ := filepath.Abs("../..")
	if err := os.Symlink(filepath.Join(repo, "policies"), filepath.Join(dir, "policies")); err != nil {
		t.Fatal(err)
	}
	in := serverproc.Start(t, bin, dir)
	defer in.Stop(syscall.SIGTERM)
	ports := strings.NewReplacer("localhost:8443", "localhost:"+in.Port, "localhost:8080", "localhost:"+in.HTTPPort)

	sh := exec.Command("/bin/sh", "-s")
	sh.Dir = dir
	sh.Env = append(os.Environ(), "TONGXING_KEY_PASSPHRASE=", "TONGXING_TOKEN=", "LC_ALL=C.UTF-8")
	stdin, err := sh.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	sh.Stdout, sh.Stderr = pw, pw
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	defer func() { stdin.Close(); sh.Process.Kill(); sh.Wait() }()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	fmt.Fprintln(stdin, "set -e")

	ran := 0
	for i, b := range blocks {
		if b.skip {
			continue
		}
		ran++
		script := filepath.Join(scripts, fmt.Sprintf("block%02d.sh", i))
		if err := os.WriteFile(script, []byte(ports.Replace(b.text)), 0o644); err != nil {
			t.Fatal(err)
		}
		// Sourced, so variables stay; stdin from /dev/null, so no command
		// reads the rest of the script.
		fmt.Fprintf(stdin, ". %s </dev/null\necho; echo __TOUR_BLOCK_DONE__\n", script)
		out, done := collect(lines, 3*time.Minute)
		if !done {
			t.Fatalf("README.md:%d: the block failed (the shell stopped):\n%s\noutput:\n%s\nserver:\n%s", b.line, b.text, out, tail(in.Out.String(), 3000))
		}
		for _, w := range b.wants {
			if w = ports.Replace(w); !strings.Contains(out, w) {
				t.Errorf("README.md:%d: output lacks %q\nblock:\n%s\noutput:\n%s", b.line, w, b.text, out)
			}
		}
		for _, f := range b.files {
			if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Size() == 0 {
				t.Errorf("README.md:%d: %s was not written (%v)", b.line, f, err)
			}
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	if ran < 20 {
		t.Fatalf("ran only %d blocks of the README", ran)
	}
	t.Logf("ran %d README blocks", ran)
}

// collect reads lines until the block's end marker (true) or the shell's
// end or the timeout (false).
func collect(lines <-chan string, timeout time.Duration) (string, bool) {
	var b strings.Builder
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return b.String(), false
			}
			if l == "__TOUR_BLOCK_DONE__" {
				return b.String(), true
			}
			b.WriteString(l + "\n")
		case <-deadline:
			return b.String() + "\n(timed out)", false
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
