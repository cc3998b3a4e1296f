package console

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tongxing/tongxing/auditlog"
)

// chartWindow is the period the charts show, in hours.
const chartWindow = 24

// maxChartEntries bounds how many entries one chart reads.
const maxChartEntries = 20000

// series is a count per hour of the window, by name.
type series struct {
	Names  []string
	Counts map[string][]int
	Start  time.Time
	// Truncated: more entries than maxChartEntries; the counts are a
	// lower bound.
	Truncated bool
}

// countHourly counts the entries of q in the last chartWindow hours per
// hour, grouped by key.
func (c *Console) countHourly(ctx context.Context, q auditlog.Query, key func(auditlog.Entry) string) (*series, error) {
	end := c.now().Truncate(time.Hour).Add(time.Hour)
	start := end.Add(-chartWindow * time.Hour)
	q.From, q.To, q.Limit = start, end, auditlog.MaxSearchLimit
	s := &series{Counts: map[string][]int{}, Start: start}
	for n := 0; ; {
		page, err := c.d.Audit.Search(ctx, q)
		if err != nil {
			return nil, err
		}
		for _, e := range page.Entries {
			k := key(e)
			if _, ok := s.Counts[k]; !ok {
				s.Counts[k] = make([]int, chartWindow)
				s.Names = append(s.Names, k)
			}
			h := int(e.Time.Sub(start) / time.Hour)
			if h >= 0 && h < chartWindow {
				s.Counts[k][h]++
			}
		}
		n += len(page.Entries)
		if page.Next == "" {
			break
		}
		if n >= maxChartEntries {
			s.Truncated = true
			break
		}
		q.Cursor = page.Next
	}
	slices.Sort(s.Names)
	return s, nil
}

// palette has colours distinguishable on white (contrast at least 3:1).
var palette = []string{"#0b57a4", "#b00020", "#1b6e20", "#8a4b00", "#6a1b9a", "#00695c", "#ad1457", "#37474f"}

// svgBars draws s as stacked hourly bars: an SVG with a title and a
// description for screen readers, the numbers also in a table on the page.
func svgBars(s *series, id, title string, label func(string) string) template.HTML {
	const w, h, left, bottom, top = 720, 260, 40, 30, 10
	peak := 1
	for i := 0; i < chartWindow; i++ {
		sum := 0
		for _, n := range s.Names {
			sum += s.Counts[n][i]
		}
		peak = max(peak, sum)
	}
	var b strings.Builder
	esc := template.HTMLEscapeString
	fmt.Fprintf(&b, `<svg class="chart" role="img" aria-labelledby="%[1]s-t" viewBox="0 0 %d %d" width="%d" height="%d">`,
		esc(id), w, h+len(s.Names)*18+10, w, h+len(s.Names)*18+10)
	fmt.Fprintf(&b, `<title id="%s-t">%s</title>`, esc(id), esc(title))
	plotH := float64(h - bottom - top)
	barW := float64(w-left-10) / chartWindow
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#444"/>`, left, h-bottom, w-10, h-bottom)
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" text-anchor="end" fill="#222">%d</text>`, left-4, top+10, peak)
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" text-anchor="end" fill="#222">0</text>`, left-4, h-bottom)
	for i := 0; i < chartWindow; i++ {
		y := float64(h - bottom)
		for k, n := range s.Names {
			v := s.Counts[n][i]
			if v == 0 {
				continue
			}
			bh := plotH * float64(v) / float64(peak)
			y -= bh
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %d</title></rect>`,
				float64(left)+float64(i)*barW+1, y, barW-2, bh, palette[k%len(palette)],
				esc(s.Start.Add(time.Duration(i)*time.Hour).In(cst).Format("01-02 15:00")), esc(label(n)), v)
		}
		if i%3 == 0 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="11" fill="#222">%s</text>`, float64(left)+float64(i)*barW, h-bottom+16,
				s.Start.Add(time.Duration(i)*time.Hour).In(cst).Format("15:00"))
		}
	}
	for k, n := range s.Names {
		y := h + k*18
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d" font-size="12" fill="#222">%s</text>`,
			left, y, palette[k%len(palette)], left+18, y+11, esc(label(n)))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// chartView is one chart and its numbers.
type chartView struct {
	ID    string
	Title string
	SVG   template.HTML
	S     *series
	Hours []string
	Rows  [][]int
	Names []string
}

func newChartView(s *series, id, title string, label func(string) string) chartView {
	v := chartView{ID: id, Title: title, SVG: svgBars(s, id, title, label), S: s}
	for i := 0; i < chartWindow; i++ {
		v.Hours = append(v.Hours, s.Start.Add(time.Duration(i)*time.Hour).In(cst).Format("15:00"))
	}
	for _, n := range s.Names {
		v.Names = append(v.Names, label(n))
		v.Rows = append(v.Rows, s.Counts[n])
	}
	return v
}

// auditCharts draws gateway calls per department per hour and denials
// over time, for the last 24 hours, on the server.
func (c *Console) auditCharts(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := r.Context()
	lang := langOf(r)
	t := messages.Translator(lang)
	calls, err := c.countHourly(ctx, auditlog.Query{Action: "gateway.call"}, func(e auditlog.Entry) string {
		if e.Actor.Department != "" {
			return e.Actor.Department
		}
		return e.Object.Department
	})
	if err != nil {
		c.fail(w, r, s, http.StatusInternalServerError, "console.err.internal", err)
		return
	}
	denials, err := c.countHourly(ctx, auditlog.Query{Decision: auditlog.DecisionDeny}, func(e auditlog.Entry) string { return e.Action })
	if err != nil {
		c.fail(w, r, s, http.StatusInternalServerError, "console.err.internal", err)
		return
	}
	dept := func(id string) string { return c.deptName(lang, id) }
	same := func(s string) string { return s }
	p := c.page(s, "console.charts.title", "/audit/charts")
	p.Data = []chartView{
		newChartView(calls, "calls", t("console.charts.calls"), dept),
		newChartView(denials, "denials", t("console.charts.denials"), same),
	}
	c.render(w, r, http.StatusOK, "charts", p)
}
