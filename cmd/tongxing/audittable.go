package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
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
	tw     *tabwriter.Writer
}

func newAuditPrinter(w io.Writer, asJSON bool) *auditPrinter {
	p := &auditPrinter{w: w, asJSON: asJSON}
	if !asJSON {
		p.tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(p.tw, "INDEX\tTIME\tACTOR\tACTION\tOBJECT\tDECISION\tOUTCOME\tREASONS")
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
	_, err := fmt.Fprintf(p.tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Index, r.Time.Local().Format("2006-01-02 15:04:05"),
		cell(r.Actor.Subject, 32), cell(r.Action, 40), cell(obj, 48), orDash(r.Decision), orDash(r.Outcome), cell(strings.Join(r.Reasons, "; "), 60))
	return err
}

// flush writes the table.
func (p *auditPrinter) flush() error {
	if p.tw == nil {
		return nil
	}
	return p.tw.Flush()
}

// cell makes s fit a table cell: control characters (tabs, newlines)
// replaced so a crafted value cannot break the columns, at most n runes,
// "-" when empty.
func cell(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
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
