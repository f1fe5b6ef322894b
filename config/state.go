package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// EnvStateDir names the environment variable that overrides the state folder.
const EnvStateDir = "MCP_BRIDGE_STATE_DIR"

// StateDir is the folder for what the bridge keeps between runs — the
// catalog cache now, tool pins and lock files later. It is never next to the
// binary: $XDG_STATE_HOME/mcp-bridge (default ~/.local/state/mcp-bridge) on
// Linux and BSD, the user config folder on macOS, %LocalAppData% on Windows.
func StateDir() (string, error) {
	if d := os.Getenv(EnvStateDir); d != "" {
		return d, nil
	}
	switch runtime.GOOS {
	case "darwin":
		dir, err := os.UserConfigDir()
		if err != nil {
			return "", stateDirError(err)
		}
		return filepath.Join(dir, "mcp-bridge", "state"), nil
	case "windows":
		dir, err := os.UserCacheDir()
		if err != nil {
			return "", stateDirError(err)
		}
		return filepath.Join(dir, "mcp-bridge"), nil
	}
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "mcp-bridge"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", stateDirError(err)
	}
	return filepath.Join(home, ".local", "state", "mcp-bridge"), nil
}

func stateDirError(err error) error {
	return fmt.Errorf("no folder for state: %w; set %s", err, EnvStateDir)
}

// ReadStateFile reads a JSON file of the state folder into v. A missing
// file leaves v as it was; one that cannot be read or parsed is an error
// that names it and says what to do (remedy), and is never reset.
func ReadStateFile(path string, v any, remedy string) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s is corrupt (%w): %s", path, err, remedy)
	}
	return nil
}

// WriteStateFile writes v to a file of the state folder as indented JSON,
// atomically, readable by the user alone.
func WriteStateFile(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return WriteFileAtomic(path, data, 0o600)
}
