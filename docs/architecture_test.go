// Package docs holds the test that keeps ARCHITECTURE.md's package table
// true to the code.
package docs

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// module is the module path, the prefix the table leaves out.
const module = "github.com/tongxing/tongxing"

// TestPackageTable holds the package table of ARCHITECTURE.md to
// `go list`: every package of the module has exactly one line, and the
// line's imports column names exactly the module's packages that its
// non-test code imports.
func TestPackageTable(t *testing.T) {
	want := listImports(t)
	have := readTable(t, "ARCHITECTURE.md")
	for pkg, imports := range want {
		got, ok := have[pkg]
		if !ok {
			t.Errorf("package %s has no line in the table", pkg)
			continue
		}
		if !slices.Equal(got, imports) {
			t.Errorf("package %s: the table says it imports %v; it imports %v", pkg, got, imports)
		}
	}
	for pkg := range have {
		if _, ok := want[pkg]; !ok {
			t.Errorf("the table lists %s, which is no package of the module", pkg)
		}
	}
}

// listImports returns, per package of the module (path relative to the
// module), the sorted module packages its non-test code imports.
func listImports(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command(goCommand(t), "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./...")
	cmd.Dir = ".."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v: %s", err, stderr.String())
	}
	pkgs := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		imports := []string{}
		for _, imp := range fields[1:] {
			if rel, ok := strings.CutPrefix(imp, module+"/"); ok {
				imports = append(imports, rel)
			}
		}
		slices.Sort(imports)
		pkgs[strings.TrimPrefix(fields[0], module+"/")] = imports
	}
	return pkgs
}

// goCommand is the go command of the toolchain running the test.
func goCommand(t *testing.T) string {
	t.Helper()
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	p, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command: %v", err)
	}
	return p
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// readTable returns the packages of the table under "## Packages" and the
// sorted imports of each; a package listed twice fails the test.
func readTable(t *testing.T, file string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Packages\n")
	if !ok {
		t.Fatalf("%s has no Packages section", file)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	table := map[string][]string{}
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) != 6 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		pkg := strings.Trim(strings.TrimSpace(cells[1]), "`")
		if _, dup := table[pkg]; dup {
			t.Errorf("package %s has two lines", pkg)
		}
		imports := []string{}
		for _, imp := range strings.Split(cells[3], ",") {
			if imp = strings.Trim(strings.TrimSpace(imp), "`"); imp != "" && imp != "—" {
				imports = append(imports, imp)
			}
		}
		slices.Sort(imports)
		table[pkg] = imports
	}
	if len(table) == 0 {
		t.Fatalf("no package lines under Packages in %s", file)
	}
	return table
}
