package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

// tableWidth is the width the verbs' text output reads well in; longer
// text is wrapped under its row.
const tableWidth = 100

// writeColumns writes rows as columns two spaces apart.
func writeColumns(w io.Writer, rows [][]string) {
	for _, line := range alignColumns(rows) {
		fmt.Fprintln(w, line)
	}
}

// alignColumns lays rows out as columns two spaces apart, a line a row
// (without its newline), so that a caller can write notes between the rows
// without ending the columns, as text/tabwriter does at a line with no tab.
func alignColumns(rows [][]string) []string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, row := range rows {
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
	return strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
}

// writeWrapped writes text wrapped at tableWidth, words kept whole: the
// first line starts with indent, the others with hang.
func writeWrapped(w io.Writer, text, indent, hang string) {
	line := indent
	fresh := true
	for _, word := range strings.Fields(text) {
		if !fresh && utf8.RuneCountInString(line)+1+utf8.RuneCountInString(word) > tableWidth {
			fmt.Fprintln(w, line)
			line, fresh = hang, true
		}
		if !fresh {
			line += " "
		}
		line += word
		fresh = false
	}
	fmt.Fprintln(w, line)
}

// plural counts n of unit: "1 tool", "3 tools".
func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// roughAge says how long ago in the largest whole unit.
func roughAge(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "less than a minute"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute")
	case d < 48*time.Hour:
		return plural(int(d/time.Hour), "hour")
	}
	return plural(int(d/(24*time.Hour)), "day")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// truncate cuts s to n characters, the last an ellipsis.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// nonNil makes a nil list an empty one, so that JSON output has [] and
// never null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
