// Command bridge is a local MCP server that brings the remote MCP servers of
// an organisation's Software Catalog to a desktop agent.
//
// Usage:
//
//	bridge <verb> [flags] [args]
//
// Verbs:
//
//	list      what the catalog offers, and what is enabled
//	enable    enable servers for this user
//	disable   disable servers again
//	completion print a shell completion script
//	doctor    check everything, and say how to fix what is broken
//	login     log in to a server or the portal
//	logout    delete a server's token from the keychain
//	serve     serve the enabled servers' tools to an agent over stdio
//	setup     add the bridge to an agent's MCP configuration
//	tools     list the tools exactly as the agent sees them
//	trust     accept a server's current tool definitions
//	version   print the version
//
// Every verb takes --help. Exit codes: 0 ok, 1 failure, 2 usage error.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/mcp-bridge/bridge/auth"
	"github.com/mcp-bridge/bridge/config"
	"github.com/mcp-bridge/bridge/config/catalog"
	"github.com/mcp-bridge/bridge/config/state"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// verb is one of the bridge's commands.
type verb struct {
	name    string
	args    string // the positional arguments, for the usage line
	summary string
	// flags adds the verb's own flags; the common ones are added for it.
	flags func(*pflag.FlagSet)
	run   func(ctx context.Context, cmd *command) error
}

func verbs() []*verb {
	return []*verb{listVerb(), enableVerb(), disableVerb(), completionVerb(), doctorVerb(), loginVerb(), logoutVerb(), serveVerb(), setupVerb(), toolsVerb(), trustVerb(), versionVerb()}
}

// command is one invocation: its flags, arguments and output streams.
type command struct {
	verb     *verb
	flags    *pflag.FlagSet
	args     []string
	stdout   io.Writer
	stderr   io.Writer
	cfgPath  string
	catalog  []string
	insecure bool
}

// usageError is a mistake in how the bridge was called: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		printUsage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "--help", "help":
		if len(args) > 1 && args[0] == "help" {
			return run(ctx, []string{args[1], "--help"}, stdout, stderr)
		}
		printUsage(stdout)
		return exitOK
	case "-v", "--version":
		args = []string{"version"}
	}
	var v *verb
	for _, c := range verbs() {
		if c.name == args[0] {
			v = c
		}
	}
	if v == nil {
		fmt.Fprintf(stderr, "bridge: unknown verb %q\n\n", args[0])
		printUsage(stderr)
		return exitUsage
	}
	cmd := &command{verb: v, stdout: stdout, stderr: stderr}
	cmd.flags = pflag.NewFlagSet("bridge "+v.name, pflag.ContinueOnError)
	cmd.flags.SetOutput(io.Discard)
	cmd.flags.StringVar(&cmd.cfgPath, "config", "", "config file (default: $"+config.EnvConfig+", or the user config folder)")
	cmd.flags.StringArrayVar(&cmd.catalog, "catalog", nil, "read only this catalog `file` instead of the configured sources")
	cmd.flags.BoolVar(&cmd.insecure, "insecure-storage", false, "keep tokens in a 0600 file in the state folder, not the OS keychain (warned each time)")
	help := cmd.flags.BoolP("help", "h", false, "show this help")
	if v.flags != nil {
		v.flags(cmd.flags)
	}
	err := cmd.flags.Parse(args[1:])
	switch {
	case *help:
		cmd.printHelp(stdout)
		return exitOK
	case err != nil:
		fmt.Fprintf(stderr, "bridge %s: %v\n", v.name, err)
		fmt.Fprintf(stderr, "Run 'bridge %s --help' for usage.\n", v.name)
		return exitUsage
	}
	cmd.args = cmd.flags.Args()
	err = v.run(ctx, cmd)
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "bridge %s: %v\n", v.name, err)
		fmt.Fprintf(stderr, "Run 'bridge %s --help' for usage.\n", v.name)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "bridge %s: %v\n", v.name, err)
		return exitFailure
	}
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "bridge brings the MCP servers of your Software Catalog to your desktop agent.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: bridge <verb> [flags] [args]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Verbs:")
	for _, v := range verbs() {
		fmt.Fprintf(w, "  %-11s %s\n", v.name, v.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'bridge <verb> --help' for a verb's flags.")
	fmt.Fprintln(w, "Exit codes: 0 ok, 1 failure, 2 usage error.")
}

func (c *command) printHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage: bridge %s [flags]", c.verb.name)
	if c.verb.args != "" {
		fmt.Fprintf(w, " %s", c.verb.args)
	}
	fmt.Fprintf(w, "\n\n%s\n\nFlags:\n%s", capitalize(c.verb.summary), c.flags.FlagUsagesWrapped(100))
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:] + "."
}

// loadConfig reads the config file named by --config, MCP_BRIDGE_CONFIG or
// the default location.
func (c *command) loadConfig() (*config.Config, error) {
	return config.Load(c.cfgPath)
}

// catalogOptions are how the verbs read the catalog: the --catalog files,
// or the configured sources with the user's portal login (kept in the
// keychain, or the token file) for the portal.
func (c *command) catalogOptions(cfg *config.Config, preferCache bool) catalog.Options {
	return catalog.Options{Files: c.catalog, PreferCache: preferCache, PortalLogin: func(ctx context.Context) string {
		stateDir, err := state.Dir()
		if err != nil {
			return ""
		}
		log := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		return auth.NewManager(cfg, auth.StoreFor(cfg, stateDir, c.insecure, auth.KeychainTimeout, log), nil).PortalLoginToken(ctx)
	}}
}

// loadCatalog reads the config and every catalog source it names, or only
// the --catalog files.
func (c *command) loadCatalog(ctx context.Context) (*config.Config, *catalog.Catalog, error) {
	cfg, err := c.loadConfig()
	if err != nil {
		return nil, nil, err
	}
	done := func() {}
	if cfg.Portal.URL != "" && len(c.catalog) == 0 {
		done = c.progress("reading the catalog from " + cfg.Portal.URL)
	}
	cat, err := catalog.Load(ctx, cfg, c.catalogOptions(cfg, false))
	done()
	if err != nil {
		return nil, nil, err
	}
	return cfg, cat, nil
}
