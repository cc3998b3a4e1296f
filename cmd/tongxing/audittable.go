package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
)

// auditRow is the part of an audit entry (auditlog's canonical JSON) an
// officer reads in a table.
type auditRow struct {
	Index uint64    `json:"index"`
	Time  time.Time `json:"time"`
	Actor struct {
		Subject    string `json:"subject"`
		SourceAddr string `json:"source_addr"`
	} `json:"actor"`
	Action string `json:"action"`
	Object struct {
		Resource   string `json:"resource"`
		Department string `json:"department"`
	} `json:"object"`
	Decision string   `json:"decision"`
	Reasons  []string `json:"reasons"`
	Outcome  string   `json:"outcome"`
}

// auditPrinter prints entries as JSON lines (for scripts) or as an
// aligned table with a header, in local time.
type auditPrinter struct {
	w      io.Writer
	asJSON bool
	tbl    *table
}

func newAuditPrinter(w io.Writer, asJSON bool) *auditPrinter {
	p := &auditPrinter{w: w, asJSON: asJSON}
	if !asJSON {
		p.tbl = newTable("INDEX", "TIME", "ACTOR", "ACTION", "OBJECT", "DECISION", "OUTCOME", "REASONS")
	}
	return p
}

// print writes one entry; a table row is held until flush.
func (p *auditPrinter) print(raw json.RawMessage) error {
	if p.asJSON {
		_, err := fmt.Fprintln(p.w, string(raw))
		return err
	}
	var r auditRow
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("audit entry: %w", err)
	}
	obj := r.Object.Resource
	if r.Object.Department != "" {
		obj += " (" + r.Object.Department + ")"
	}
	p.tbl.row(fmt.Sprint(r.Index), r.Time.Local().Format("2006-01-02 15:04:05"),
		cell(r.Actor.Subject, 32), cell(r.Action, 40), cell(obj, 48), cell(r.Decision, 8), cell(r.Outcome, 16), cell(strings.Join(r.Reasons, "; "), 60))
	return nil
}

// flush writes the table.
func (p *auditPrinter) flush() error {
	if p.tbl == nil {
		return nil
	}
	return p.tbl.write(p.w)
}

// cell makes s fit a table cell: characters that are not printable (tabs,
// newlines, line separators, bidi controls) replaced by spaces so a
// crafted value cannot break the columns or reorder the line, at most n
// runes, "-" when empty.
func cell(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) || unicode.Is(unicode.Bidi_Control, r) {
			return ' '
		}
		return r
	}, s)
	if rs := []rune(s); len(rs) > n {
		s = string(rs[:n-1]) + "…"
	}
	return orDash(s)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// table aligns columns by their width on a terminal, where a CJK
// character takes two columns (text/tabwriter counts it as one).
type table struct{ rows [][]string }

func newTable(header ...string) *table { return &table{rows: [][]string{header}} }

func (t *table) row(cells ...string) { t.rows = append(t.rows, cells) }

// write prints the rows, columns two spaces apart, the last unpadded.
func (t *table) write(w io.Writer) error {
	var widths []int
	for _, r := range t.rows {
		for i, c := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], displayWidth(c))
		}
	}
	var b strings.Builder
	for _, r := range t.rows {
		for i, c := range r {
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-displayWidth(c)+2))
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// displayWidth is the number of terminal columns s takes: two for East
// Asian wide and full-width characters, one for the others.
func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		switch {
		case r >= 0x1100 && r <= 0x115f, r >= 0x2e80 && r <= 0xa4cf, r >= 0xac00 && r <= 0xd7a3,
			r >= 0xf900 && r <= 0xfaff, r >= 0xfe30 && r <= 0xfe4f, r >= 0xff00 && r <= 0xff60,
			r >= 0xffe0 && r <= 0xffe6, r >= 0x20000 && r <= 0x3fffd:
			n += 2
		default:
			n++
		}
	}
	return n
}
