package bridge

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/mcp-bridge/bridge/config"
)

// Outcomes of a call in the audit log.
const (
	OutcomeOK        = "ok"
	OutcomeIsError   = "isError"
	OutcomeError     = "error"
	OutcomeCancelled = "cancelled"
)

// Audit writes one JSON line per tool call to a file that it rotates at a
// size. It never sees a token: only the call's names, timing, outcome and,
// when the user opts in, its arguments.
type Audit struct {
	path      string
	arguments bool
	maxSize   int64
	keep      int

	mu   sync.Mutex
	f    *os.File
	size int64
}

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	Time   time.Time `json:"time"`
	Server string    `json:"server"`
	Tool   string    `json:"tool"` // the original name
	Name   string    `json:"name"` // the exposed name
	// Client is the name the agent gave itself (clientInfo.name), and
	// Fit the row of the client table the bridge fitted its tools to
	// ("" for an agent it does not know).
	Client        string          `json:"client,omitempty"`
	Fit           string          `json:"fit,omitempty"`
	DurationMS    float64         `json:"duration_ms"`
	Outcome       string          `json:"outcome"`
	ResponseBytes int             `json:"response_bytes"`
	Error         string          `json:"error,omitempty"`
	Arguments     json.RawMessage `json:"arguments,omitempty"`
}

// OpenAudit opens the audit log the config names, or returns nil when it
// names none.
func OpenAudit(c config.AuditConfig) (*Audit, error) {
	if c.Path == "" {
		return nil, nil
	}
	a := &Audit{path: c.Path, arguments: c.Arguments, maxSize: int64(c.MaxSizeMB) << 20, keep: c.Keep}
	if a.maxSize == 0 {
		a.maxSize = 10 << 20
	}
	if a.keep == 0 {
		a.keep = 3
	}
	if err := a.open(); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *Audit) open() error {
	if err := os.MkdirAll(filepath.Dir(a.path), 0o700); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	f, err := os.OpenFile(a.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("audit log: %w", err)
	}
	a.f, a.size = f, fi.Size()
	return nil
}

// Record writes one entry; arguments are dropped unless the user opted in.
func (a *Audit) Record(e AuditEntry) error {
	if a == nil {
		return nil
	}
	if !a.arguments {
		e.Arguments = nil
	}
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return fmt.Errorf("audit log %s is closed", a.path)
	}
	if a.size > 0 && a.size+int64(len(line)) > a.maxSize {
		if err := a.rotate(); err != nil {
			return err
		}
	}
	n, err := a.f.Write(line)
	a.size += int64(n)
	return err
}

// rotate shifts path → path.1 → path.2 …, dropping the oldest beyond keep.
func (a *Audit) rotate() error {
	a.f.Close()
	a.f = nil
	for i := a.keep; i >= 1; i-- {
		from := a.path
		if i > 1 {
			from = fmt.Sprintf("%s.%d", a.path, i-1)
		}
		if _, err := os.Stat(from); err == nil {
			if err := os.Rename(from, fmt.Sprintf("%s.%d", a.path, i)); err != nil {
				return fmt.Errorf("rotating the audit log: %w", err)
			}
		}
	}
	return a.open()
}

// Close closes the file.
func (a *Audit) Close() error {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return nil
	}
	err := a.f.Close()
	a.f = nil
	return err
}
