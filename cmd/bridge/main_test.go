package main

import (
	"flag"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

var update = flag.Bool("update", false, "rewrite the golden output in testdata/script")

func TestMain(m *testing.M) {
	// The test binary doubles as "bridge" on $PATH, for the scripts and for
	// the end-to-end tests that drive "bridge serve" over stdio.
	testscript.Main(m, map[string]func(){"bridge": main, "fake-browser": fakeBrowser, "conformance-agent": conformanceAgent})
}

// fakeBrowser stands in for a person at a browser: it follows the login
// URL's redirects, cookies kept, until the bridge's loopback callback.
// Tests set BROWSER=fake-browser.
func fakeBrowser() {
	if err := browse(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "fake-browser:", err)
		os.Exit(1)
	}
}

// browse is what fakeBrowser does with a URL.
func browse(url string) error {
	jar, _ := cookiejar.New(nil)
	res, err := (&http.Client{Jar: jar, Timeout: 30 * time.Second}).Get(url)
	if err != nil {
		return err
	}
	return res.Body.Close()
}

// TestScripts runs the CLI scenarios in testdata/script: one file each,
// readable without the Go code. Each runs in a fresh folder holding a copy of
// the repository's example catalogs under catalog/, with the config file and
// the state folder inside it.
func TestScripts(t *testing.T) {
	catalogs, err := filepath.Glob("../../testdata/catalog/*.yaml")
	if err != nil || len(catalogs) == 0 {
		t.Fatalf("no example catalogs: %v", err)
	}
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: *update,
		Setup: func(env *testscript.Env) error {
			env.Setenv("MCP_BRIDGE_CONFIG", filepath.Join(env.WorkDir, "config.yaml"))
			env.Setenv("MCP_BRIDGE_STATE_DIR", filepath.Join(env.WorkDir, "state"))
			dir := filepath.Join(env.WorkDir, "catalog")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			for _, c := range catalogs {
				data, err := os.ReadFile(c)
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(dir, filepath.Base(c)), data, 0o644); err != nil {
					return err
				}
			}
			return nil
		},
	})
}
