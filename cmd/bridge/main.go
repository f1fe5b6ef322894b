// Command bridge is a local MCP server that brings the remote MCP servers of
// an organisation's Software Catalog to a desktop agent.
//
// Usage:
//
//	bridge <verb> [flags] [args]
//
// Verbs:
//
//	list        what the catalog offers, and what is enabled
//	enable      enable servers for this user
//	disable     disable servers again
//	completion  print a shell completion script
//	doctor      check everything, and say how to fix what is broken
//	login       log in to a server or the portal
//	logout      delete a server's token from the keychain
//	serve       serve the enabled servers' tools to an agent over stdio
//	setup       add the bridge to an agent's MCP configuration
//	tools       list the tools exactly as the agent sees them
//	trust       accept a server's current tool definitions
//	version     print the version
//
// Every verb takes --help. Exit codes: 0 ok, 1 failure, 2 usage error.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/mcp-bridge/bridge/config"
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

	// How the verb wants its app built; the zero values suit a verb that
	// must not hang and logs warnings.

	// keychainTimeout bounds each keychain call (default
	// auth.KeychainTimeout); login waits longer, as a person may have to
	// type a password to unlock the keychain.
	keychainTimeout time.Duration
	// httpTimeout bounds each request of the HTTP client (default a minute).
	httpTimeout time.Duration
	// logErrorsOnly leaves warnings out of the log: the verb reports
	// problems in its own output.
	logErrorsOnly bool
}

func verbs() []*verb {
	return []*verb{listVerb(), enableVerb(), disableVerb(), completionVerb(), doctorVerb(), loginVerb(), logoutVerb(), serveVerb(), setupVerb(), toolsVerb(), trustVerb(), versionVerb()}
}

// command is one invocation: the verb, its flags and arguments, and the
// app that holds what the invocation's steps share.
type command struct {
	*app
	verb  *verb
	flags *pflag.FlagSet
	args  []string
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
	cmd := &command{app: newApp(stdout, stderr, v), verb: v}
	cmd.flags = pflag.NewFlagSet("bridge "+v.name, pflag.ContinueOnError)
	cmd.flags.SetOutput(io.Discard)
	cmd.flags.StringVar(&cmd.cfgPath, "config", "", "config file (default: $"+config.EnvConfig+", or the user config folder)")
	cmd.flags.StringArrayVar(&cmd.catalogFiles, "catalog", nil, "read only this catalog `file` instead of the configured sources")
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
	var rows [][]string
	for _, v := range verbs() {
		rows = append(rows, []string{"  " + v.name, v.summary})
	}
	writeColumns(w, rows)
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
