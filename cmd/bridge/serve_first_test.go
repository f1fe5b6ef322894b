package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mcp-bridge/bridge/bridge"
	"github.com/mcp-bridge/bridge/bridge/upstreamtest"
)

// serve keeps, as each run ends, what the next start would answer the
// agent's first lists from the state folder it leaves (first/), and the
// next start of the same build for the same agent on the same files
// answers from it before it reads the catalog. Each test runs serve once
// to keep them, then changes something and runs it again. To see which
// answer an agent got, the kept answer's echo tool is renamed in the
// file: an agent that lists alpha__ahead was answered ahead.

// firstFile is the one file of first answers in a state folder.
func firstFile(t *testing.T, stateDir string) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(stateDir, "first", "*.json"))
	must(t, err)
	if len(files) != 1 {
		t.Fatalf("%d files of first answers in %s, not 1: %v", len(files), stateDir, files)
	}
	return files[0]
}

// keptFirst starts serve over alpha, lists, stops, and marks the kept
// first answers; it returns the agent, stopped.
func keptFirst(t *testing.T, configExtra string) (*agent, *upstreamtest.Server) {
	t.Helper()
	alpha := upstreamtest.Start(t, upstreamtest.Options{Name: "alpha", Transport: upstreamtest.StreamableHTTP})
	a := startAgent(t, entityYAML("alpha", [2]string{"streamable-http", alpha.StreamableURL}), []string{"alpha"}, configExtra)
	a.initialize("2025-11-25")
	if _, ok := listTools(a)["alpha__echo"]; !ok {
		t.Fatal("alpha's tools are not listed")
	}
	a.stop()
	replaceIn(t, firstFile(t, a.stateDir), `"name":"alpha__echo"`, `"name":"alpha__ahead"`)
	return a, alpha
}

// TestServeAnswersTheFirstListsAhead: the next start answers the agent's
// first tools/list from the kept answers; once the kept lists are in
// place the answer that differs from them brings list_changed, and the
// agent lists them; a call right after the first answer runs.
func TestServeAnswersTheFirstListsAhead(t *testing.T) {
	a, _ := keptFirst(t, "")
	a = a.restart()
	a.initialize("2025-11-25")
	first := listTools(a)
	if _, ok := first["alpha__ahead"]; !ok {
		t.Fatalf("the first tools/list was not answered ahead: %v\n%s", keys(first), a.stderr.String())
	}
	text, errm := a.toolText("alpha__echo", map[string]any{"text": "at once"})
	if errm != nil || text != "at once" {
		t.Fatalf("a call right after the first answer: %q %+v", text, errm)
	}
	a.waitNotification("notifications/tools/list_changed", 30*time.Second)
	a.waitLog(`a list answered ahead differs from the kept lists; the agent is told" list=tools/list`)
	again := listTools(a)
	if _, ok := again["alpha__echo"]; !ok {
		t.Fatalf("the lists after list_changed lack echo: %v", keys(again))
	}
	if _, ok := again["alpha__ahead"]; ok {
		t.Fatal("the answer ahead is listed again after list_changed")
	}
}

// TestServeAnswersAheadWhatTheKeptListsSay: unmarked, the answer ahead is
// the kept lists' own: the agent hears of no change, and a server down
// at start fails its calls with the reason.
func TestServeAnswersAheadWhatTheKeptListsSay(t *testing.T) {
	alpha := upstreamtest.Start(t, upstreamtest.Options{Name: "alpha", Transport: upstreamtest.StreamableHTTP})
	a := startAgent(t, entityYAML("alpha", [2]string{"streamable-http", alpha.StreamableURL}), []string{"alpha"}, "")
	a.initialize("2025-11-25")
	live := listTools(a)
	a.stop()
	firstFile(t, a.stateDir)
	alpha.Kill()

	a = a.restart()
	a.initialize("2025-11-25")
	ahead := listTools(a)
	a.waitLog("answering the first lists ahead")
	if strings.Join(keys(ahead), " ") != strings.Join(keys(live), " ") {
		t.Fatalf("answered ahead %v, listed live %v", keys(ahead), keys(live))
	}
	for name, raw := range live {
		if string(ahead[name]) != string(raw) {
			t.Errorf("%s answered ahead as %s, listed live as %s", name, ahead[name], raw)
		}
	}
	_, errm := a.toolText("alpha__echo", map[string]any{"text": "x"})
	if errm == nil || !regexp.MustCompile(`^alpha: not connected: streamable-http http://\S+: .*connection refused; reconnecting$`).MatchString(errm.Error.Message) {
		t.Errorf("a call to the server that is down: %+v", errm)
	}
	_, notes := a.call("ping", nil)
	for _, n := range notes {
		if strings.HasSuffix(n.Method, "/list_changed") {
			t.Errorf("the agent heard of a change when the answer ahead was the kept lists: %s", n.raw)
		}
	}
	if strings.Contains(a.stderr.String(), "answered ahead differs") {
		t.Errorf("the answer ahead differed from the kept lists:\n%s", a.stderr.String())
	}
}

// TestServeAnswersAheadOnlyForTheSameFiles: anything the answers are made
// of that changed (the config, the catalog, a server's pins or kept
// lists, the arguments), an answer older than serve.cache_max_age
// allows, one kept for another agent, and a corrupt file (named) are not
// answered from: the start answers from the kept lists as always.
func TestServeAnswersAheadOnlyForTheSameFiles(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, a *agent) *agent
		log    string
	}{
		{"config", func(t *testing.T, a *agent) *agent {
			appendTo(t, a.cfgPath, "# edited\n")
			return a.restart()
		}, "the config, the catalog or the servers' files changed since they were made"},
		{"catalog", func(t *testing.T, a *agent) *agent {
			replaceIn(t, filepath.Join(filepath.Dir(a.cfgPath), "catalog.yaml"), "owner: test", "owner: someone")
			return a.restart()
		}, "the config, the catalog or the servers' files changed since they were made"},
		{"pins", func(t *testing.T, a *agent) *agent {
			appendTo(t, pinsPath(a.stateDir, "alpha"), "\n")
			return a.restart()
		}, "the config, the catalog or the servers' files changed since they were made"},
		{"kept lists", func(t *testing.T, a *agent) *agent {
			appendTo(t, keptPath(a.stateDir, "alpha"), "\n")
			return a.restart()
		}, "the config, the catalog or the servers' files changed since they were made"},
		{"arguments", func(t *testing.T, a *agent) *agent {
			return spawnAgent(t, a.cfgPath, a.stateDir, "--call-timeout", "1m")
		}, "the config, the catalog or the servers' files changed since they were made"},
		{"too old", func(t *testing.T, a *agent) *agent {
			path := firstFile(t, a.stateDir)
			data, err := os.ReadFile(path)
			must(t, err)
			until := regexp.MustCompile(`"until":"[^"]*"`)
			must(t, os.WriteFile(path, until.ReplaceAll(data, []byte(`"until":"2020-01-01T00:00:00Z"`)), 0o600))
			return a.restart()
		}, "the oldest kept lists they were made of are older than serve.cache_max_age"},
		{"corrupt", func(t *testing.T, a *agent) *agent {
			path := firstFile(t, a.stateDir)
			data, err := os.ReadFile(path)
			must(t, err)
			must(t, os.WriteFile(path, data[:len(data)/2], 0o600))
			return a.restart()
		}, "is corrupt (not JSON); it is not used, and this run's end replaces it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, _ := keptFirst(t, "")
			a = tc.change(t, a)
			a.initialize("2025-11-25")
			tools := listTools(a)
			if _, ok := tools["alpha__ahead"]; ok {
				t.Fatalf("answered ahead after a change of the %s:\n%s", tc.name, a.stderr.String())
			}
			if _, ok := tools["alpha__echo"]; !ok {
				t.Fatalf("alpha's tools are not listed: %v", keys(tools))
			}
			a.waitLog(tc.log)
			if tc.name == "corrupt" {
				a.waitLog(filepath.Join(a.stateDir, "first"))
			}
			// The run's end keeps answers for the files as they are now.
			a.stop()
			if data, err := os.ReadFile(firstFile(t, a.stateDir)); err != nil || strings.Contains(string(data), "alpha__ahead") {
				t.Errorf("the run's end did not keep new answers: %v", err)
			}
		})
	}

	t.Run("another agent", func(t *testing.T) {
		a, _ := keptFirst(t, "")
		a = a.restart()
		var res map[string]any
		a.result("initialize", map[string]any{
			"protocolVersion": "2025-11-25", "capabilities": map[string]any{},
			"clientInfo": map[string]any{"name": "another", "version": "1"},
		}, &res)
		a.notify("notifications/initialized", map[string]any{})
		if _, ok := listTools(a)["alpha__ahead"]; ok {
			t.Fatal("another agent was answered with the first agent's answers")
		}
		a.stop()
		files, err := filepath.Glob(filepath.Join(a.stateDir, "first", "*.json"))
		if err != nil || len(files) != 2 {
			t.Errorf("each agent's answers are not kept in a file of its own: %v %v", files, err)
		}
	})
}

// TestServeKeepsNoFirstListsWhenCachedListsIsOff: with serve.cached_lists
// false nothing is kept, and nothing kept before is answered from.
func TestServeKeepsNoFirstListsWhenCachedListsIsOff(t *testing.T) {
	a, _ := keptFirst(t, "")
	appendTo(t, a.cfgPath, "serve:\n  cached_lists: false\n")
	a = a.restart()
	a.initialize("2025-11-25")
	if _, ok := listTools(a)["alpha__ahead"]; ok {
		t.Fatal("answered ahead with serve.cached_lists false")
	}
	a.stop()
	if data, err := os.ReadFile(firstFile(t, a.stateDir)); err != nil || !strings.Contains(string(data), "alpha__ahead") {
		t.Errorf("the file of first answers was written with serve.cached_lists false: %v", err)
	}
}

// pinsPath is the file of a server's pins in a state folder.
func pinsPath(stateDir, server string) string { return bridge.NewPins(stateDir).Path(server) }

// appendTo appends text to a file.
func appendTo(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	must(t, err)
	_, err = f.WriteString(text)
	must(t, err)
	must(t, f.Close())
}
