package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/pflag"

	agentconf "github.com/mcp-bridge/bridge/config/agent"
	"github.com/mcp-bridge/bridge/config/state"
)

func setupVerb() *verb {
	var printOnly, remove bool
	var name, binary string
	return &verb{
		name:    "setup",
		args:    "claude-desktop|claude-code|cursor|vscode",
		summary: "add the bridge to an agent's MCP configuration (a backup is kept; --remove takes it out)",
		flags: func(f *pflag.FlagSet) {
			f.BoolVar(&printOnly, "print", false, "print the configuration snippet instead of writing the file")
			f.BoolVar(&remove, "remove", false, "take the bridge's entry out again")
			f.StringVar(&name, "name", "bridge", "the entry's name in the agent's configuration")
			f.StringVar(&binary, "command", "", "the bridge binary to start (default: this one, by its absolute path)")
		},
		run: func(_ context.Context, cmd *command) error {
			if len(cmd.args) != 1 {
				return usagef("name one agent: claude-desktop, claude-code, cursor or vscode")
			}
			a, err := agentconf.Find(cmd.args[0])
			if err != nil {
				return usagef("%v", err)
			}
			if binary == "" {
				if binary, err = thisBinary(); err != nil {
					return err
				}
			}
			if printOnly {
				fmt.Fprint(cmd.stdout, a.Snippet(name, binary))
				return nil
			}
			home, err := os.UserHomeDir()
			if err != nil {
				return err
			}
			path := a.Path(agentconf.Env{GOOS: runtime.GOOS, Home: home, AppData: os.Getenv("APPDATA"), XDG: os.Getenv("XDG_CONFIG_HOME")})
			return setupFile(cmd, a, path, name, binary, remove)
		},
	}
}

// setupFile edits the agent's file, keeping a timestamped backup of what
// it replaces, and remembers whether it created the servers object so that
// --remove can give back the file as it was.
func setupFile(cmd *command, a agentconf.Agent, path, name, binary string, remove bool) error {
	data, err := os.ReadFile(path)
	existed := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	stateDir, err := cmd.stateDir()
	if err != nil {
		return err
	}
	created, err := newSetupRecord(stateDir)
	if err != nil {
		return err
	}
	var out []byte
	var changed bool
	if remove {
		out, changed, err = a.Remove(data, name, created.get(path) != "")
	} else {
		switch {
		case !existed:
			created.set(path, createdFile)
		case a.Created(data):
			created.set(path, createdServers)
		}
		out, changed, err = a.Add(data, name, binary)
	}
	if errors.Is(err, agentconf.ErrNotJSON) {
		return fmt.Errorf("%s is %w (comments?), so it is left alone; add this by hand:\n%s", path, err, a.Snippet(name, binary))
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if !changed {
		if remove {
			fmt.Fprintf(cmd.stdout, "%s has no %q entry; nothing to remove\n", path, name)
		} else {
			fmt.Fprintf(cmd.stdout, "%s is already set up in %s\n", a.Title, path)
		}
		return nil
	}
	if existed {
		backup := path + ".bak-" + time.Now().Format("20060102-150405")
		if err := state.WriteFile(backup, data, 0o600); err != nil {
			return err
		}
		fmt.Fprintf(cmd.stdout, "backed up %s to %s\n", path, backup)
	}
	if remove && created.get(path) == createdFile {
		// Setup made the file: taking the entry out takes the file away.
		if err := os.Remove(path); err != nil {
			return err
		}
	} else if err := state.WriteFile(path, out, 0o644); err != nil {
		return err
	}
	if remove {
		created.forget(path)
		fmt.Fprintf(cmd.stdout, "removed %q from %s; restart %s\n", name, path, a.Title)
	} else {
		fmt.Fprintf(cmd.stdout, "added %q (%s serve) to %s; restart %s\n", name, binary, path, a.Title)
	}
	return created.save()
}

// thisBinary is the running bridge's absolute path, which the agent will
// start; a "go run" build in a temporary folder would vanish, so it is
// refused.
func thisBinary() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding this binary: %w; pass --command", err)
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	if strings.Contains(exe, "go-build") {
		return "", errors.New("this bridge was built by \"go run\" into a temporary folder; install it (go install ./cmd/bridge) and run setup from there, or pass --command")
	}
	return exe, nil
}

// What setup created in an agent's file, so that --remove takes it away.
const (
	createdFile    = "file"
	createdServers = "servers"
)

// setupRecord remembers, per agent file, whether setup created the file or
// its servers object.
type setupRecord struct {
	path    string
	created map[string]string
}

// newSetupRecord reads the record kept in the state folder dir.
func newSetupRecord(dir string) (*setupRecord, error) {
	r := &setupRecord{path: filepath.Join(dir, "setup.json"), created: map[string]string{}}
	if err := state.ReadJSON(r.path, &r.created, "fix or delete it"); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *setupRecord) get(path string) string { return r.created[path] }

func (r *setupRecord) set(path, what string) { r.created[path] = what }

func (r *setupRecord) forget(path string) { delete(r.created, path) }

func (r *setupRecord) save() error { return state.WriteJSON(r.path, r.created) }
