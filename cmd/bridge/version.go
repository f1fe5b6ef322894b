package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set at build time: -ldflags "-X main.version=v1.2.3 -X main.commit=abc -X main.date=2026-01-01".
var (
	version = ""
	commit  = ""
	date    = ""
)

func versionVerb() *verb {
	return &verb{
		name:    "version",
		summary: "print the version, commit, build date and Go version",
		run: func(_ context.Context, cmd *command) error {
			if len(cmd.args) > 0 {
				return usagef("version takes no arguments")
			}
			v, c, d := buildInfo()
			fmt.Fprintf(cmd.stdout, "bridge %s (commit %s, built %s, %s %s/%s)\n", v, c, d, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}

// buildInfo is the version stamped in with -ldflags, or, for a plain
// "go build" or "go install", what the Go toolchain recorded.
func buildInfo() (v, c, d string) {
	v, c, d = version, commit, date
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			switch {
			case s.Key == "vcs.revision" && c == "":
				c = s.Value
			case s.Key == "vcs.time" && d == "":
				d = s.Value
			case s.Key == "vcs.modified" && s.Value == "true" && c != "" && len(c) <= 40:
				c += "-dirty"
			}
		}
	}
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	if c == "" {
		c = "unknown"
	}
	if d == "" {
		d = "unknown"
	}
	return v, c, d
}
