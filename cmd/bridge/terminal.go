package main

import (
	"fmt"
	"io"
	"unicode/utf8"
)

// terminalText is a writer for a person's terminal: control characters in
// what is written (text from the catalog or a server, which may carry
// ESC[2J or a title-setting sequence) are shown as \x1b, not obeyed. Line
// ends and tabs pass. JSON output is already escaped by its encoder, and
// passes unchanged.
type terminalText struct{ w io.Writer }

func (t terminalText) Write(p []byte) (int, error) {
	clean := true
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRune(p[i:])
		if control(r) {
			clean = false
			break
		}
		i += size
	}
	if clean {
		return t.w.Write(p)
	}
	out := make([]byte, 0, len(p)+16)
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRune(p[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			out = append(out, p[i])
		case control(r) && r < 0x100:
			out = fmt.Appendf(out, `\x%02x`, r)
		default:
			out = append(out, p[i:i+size]...)
		}
		i += size
	}
	if _, err := t.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// control reports a C0 or C1 control character other than a line end or
// a tab.
func control(r rune) bool {
	return (r < 0x20 && r != '\n' && r != '\t' && r != '\r') || r == 0x7f || (r >= 0x80 && r <= 0x9f)
}
