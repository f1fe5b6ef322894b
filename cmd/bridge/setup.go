package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/mcp-bridge/bridge/config"
	agentconf "github.com/mcp-bridge/bridge/config/agent"
	"github.com/mcp-bridge/bridge/config/state"
)

func setupVerb() *verb {
	var printOnly, remove, asJSON bool
	var name, binary string
	return &verb{
		name:    "setup",
		args:    "[" + strings.ReplaceAll(agentconf.Names(), ", ", "|") + "]",
		summary: "add the bridge to an agent's MCP configuration (a backup is kept; --remove takes it out); with no agent, list them",
		flags: func(f *pflag.FlagSet) {
			f.BoolVar(&printOnly, "print", false, "print the configuration snippet instead of writing the file")
			f.BoolVar(&remove, "remove", false, "take the bridge's entry out again")
			f.StringVar(&name, "name", "bridge", "the entry's name in the agent's configuration")
			f.StringVar(&binary, "command", "", "the bridge binary to start (default: this one, by its absolute path)")
			f.BoolVar(&asJSON, "json", false, "with no agent: print the agents as JSON")
		},
		run: func(ctx context.Context, cmd *command) error {
			env, err := agentEnv()
			if err != nil {
				return err
			}
			if len(cmd.args) == 0 {
				return listAgents(cmd, env, asJSON)
			}
			if len(cmd.args) != 1 {
				return usagef("name one agent: %s", agentconf.Names())
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
			launch, err := cmd.launch(binary)
			if err != nil {
				return err
			}
			if printOnly {
				fmt.Fprint(cmd.stdout, a.Snippet(name, launch))
				return nil
			}
			return setupFile(ctx, cmd, a, a.Path(env), name, launch, remove)
		},
	}
}

// agentEnv is what the agents' config files are found by.
func agentEnv() (agentconf.Env, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return agentconf.Env{}, err
	}
	return agentconf.Env{GOOS: runtime.GOOS, Home: home, AppData: os.Getenv("APPDATA"),
		XDG: os.Getenv("XDG_CONFIG_HOME"), CodexHome: os.Getenv("CODEX_HOME")}, nil
}

// launch is how an agent is to start this bridge: with the config file
// this setup runs with when that is not the default one.
func (a *app) launch(binary string) (agentconf.Launch, error) {
	if a.cfgPath == "" && os.Getenv(config.EnvConfig) == "" {
		return agentconf.Serve(binary, ""), nil
	}
	cfg, err := a.config()
	if err != nil {
		return agentconf.Launch{}, err
	}
	path, err := filepath.Abs(cfg.Path())
	if err != nil {
		return agentconf.Launch{}, err
	}
	return agentconf.Serve(binary, path), nil
}

// agentRow is one agent in "bridge setup --json".
type agentRow struct {
	Name   string `json:"name"`
	Title  string `json:"title"`
	Config string `json:"config"`
	Found  string `json:"found,omitempty"`
}

// listAgents shows the agents setup knows, where their config is, and
// what shows each is installed here.
func listAgents(cmd *command, env agentconf.Env, asJSON bool) error {
	var rows []agentRow
	for _, a := range agentconf.Agents {
		rows = append(rows, agentRow{Name: a.Name, Title: a.Title, Config: a.Path(env), Found: a.Found(env, exec.LookPath)})
	}
	if asJSON {
		enc := json.NewEncoder(cmd.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"agents": rows})
	}
	table := [][]string{{"AGENT", "NAME", "CONFIG FILE", "INSTALLED"}}
	for _, r := range rows {
		found := r.Found
		if found == "" {
			found = "-"
		}
		table = append(table, []string{r.Name, r.Title, r.Config, found})
	}
	writeColumns(cmd.stdout, table)
	fmt.Fprintln(cmd.stdout, "\nbridge setup <agent> adds the bridge to one of them.")
	return nil
}

// setupFile edits the agent's file under its lock, keeping a backup of
// what it replaces, and remembers what it created, so that --remove gives
// back the file as it was: the file itself only while it is byte for byte
// what setup wrote, else only the entry.
func setupFile(ctx context.Context, cmd *command, a agentconf.Agent, path, name string, launch agentconf.Launch, remove bool) error {
	stateDir, err := cmd.stateDir()
	if err != nil {
		return err
	}
	locks := state.Locks{Dir: filepath.Join(stateDir, "locks")}
	record, err := readSetupRecord(stateDir)
	if err != nil {
		return err
	}
	var changed, deleted bool
	var backup string
	entry := record[path]
	err = locks.Update(ctx, path, 0o644, func(data []byte) ([]byte, error) {
		var out []byte
		var err error
		switch {
		case remove && data != nil && entry.Created == createdFile && entry.Wrote == digest(data):
			changed, deleted = true, true
		case remove:
			out, changed, err = a.Remove(data, name, entry.Created != "")
		default:
			if entry.Created == "" {
				switch {
				case data == nil:
					entry.Created = createdFile
				case a.Created(data):
					entry.Created = createdServers
				}
			}
			wasOurs := data == nil || (entry.Created == createdFile && entry.Wrote == digest(data))
			out, changed, err = a.Add(data, name, launch)
			entry.Wrote = ""
			if wasOurs {
				entry.Wrote = digest(out)
			}
		}
		if err != nil || !changed {
			return data, err
		}
		if data != nil {
			if backup, err = state.Backup(path, data, time.Now()); err != nil {
				return nil, err
			}
		}
		return out, nil
	})
	if errors.Is(err, agentconf.ErrNotJSON) {
		return fmt.Errorf("%s is %w (comments?), so it is left alone; add this by hand:\n%s", path, err, a.Snippet(name, launch))
	}
	if errors.Is(err, agentconf.ErrNotTOML) {
		return fmt.Errorf("%s is %w, so it is left alone; add this by hand:\n%s", path, err, a.Snippet(name, launch))
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
	if backup != "" {
		fmt.Fprintf(cmd.stdout, "backed up %s to %s\n", path, backup)
	}
	switch {
	case deleted:
		fmt.Fprintf(cmd.stdout, "removed %s, which setup had created; restart %s\n", path, a.Title)
	case remove:
		fmt.Fprintf(cmd.stdout, "removed %q from %s; restart %s\n", name, path, a.Title)
	default:
		fmt.Fprintf(cmd.stdout, "added %q (%s) to %s; restart %s\n", name, strings.Join(append([]string{launch.Command}, launch.Args...), " "), path, a.Title)
		if a.Note != "" {
			fmt.Fprintln(cmd.stdout, a.Note)
		}
	}
	return updateSetupRecord(ctx, locks, stateDir, path, entry, remove)
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

// setupEntry is what setup remembers of one agent file.
type setupEntry struct {
	// Created is createdFile or createdServers, or "".
	Created string `json:"created"`
	// Wrote is a digest of the file as setup left it, while setup alone
	// has written it: --remove deletes the file only while it still is.
	Wrote string `json:"wrote,omitempty"`
}

// UnmarshalJSON reads an entry, or what earlier versions kept: the
// string Created alone.
func (e *setupEntry) UnmarshalJSON(data []byte) error {
	var created string
	if json.Unmarshal(data, &created) == nil {
		*e = setupEntry{Created: created}
		return nil
	}
	type plain setupEntry
	return json.Unmarshal(data, (*plain)(e))
}

// setupRecordPath is the record's file in the state folder dir.
func setupRecordPath(dir string) string { return filepath.Join(dir, "setup.json") }

// readSetupRecord reads what setup remembers, per agent file.
func readSetupRecord(dir string) (map[string]setupEntry, error) {
	m := map[string]setupEntry{}
	if err := state.ReadJSON(setupRecordPath(dir), &m, "fix or delete it"); err != nil {
		return nil, err
	}
	return m, nil
}

// updateSetupRecord records entry for the agent file path, or forgets it
// after a removal, on top of what other setups recorded meanwhile.
func updateSetupRecord(ctx context.Context, locks state.Locks, dir, path string, entry setupEntry, forget bool) error {
	m := map[string]setupEntry{}
	return locks.UpdateJSON(ctx, setupRecordPath(dir), "fix or delete it", &m, func() error {
		if forget || entry.Created == "" {
			delete(m, path)
		} else {
			m[path] = entry
		}
		return nil
	})
}

// digest names a file's content; a missing file has none.
func digest(data []byte) string {
	if data == nil {
		return ""
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
