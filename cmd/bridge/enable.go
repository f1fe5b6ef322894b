package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/mcp-bridge/bridge/config/catalog"
)

func enableVerb() *verb {
	var readOnly bool
	return &verb{
		name:    "enable",
		args:    "<server>...",
		summary: "enable servers: by name, entity ref (api:<namespace>/<name>) or definition name",
		flags: func(f *pflag.FlagSet) {
			f.BoolVar(&readOnly, "read-only", false, "expose only the servers' read-only tools (sets servers.<id>.read_only)")
		},
		run: func(ctx context.Context, cmd *command) error {
			if len(cmd.args) == 0 {
				return usagef("name at least one server to enable (\"bridge list\" shows them)")
			}
			cfg, cat, err := cmd.loadCatalog(ctx)
			if err != nil {
				return err
			}
			enabled := slices.Clone(cfg.Enabled)
			var errs []error
			var added, already, notes []string
			for _, name := range cmd.args {
				s, err := cat.Match(name)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				if note := s.Note(); note != "" {
					notes = append(notes, note)
				}
				if !s.Available() {
					errs = append(errs, fmt.Errorf("cannot enable %s: %s", s.ID, strings.Join(s.Reasons, "; ")))
					continue
				}
				if slices.Contains(enabled, s.ID) {
					already = append(already, s.ID)
					continue
				}
				enabled = append(enabled, s.ID)
				added = append(added, s.ID)
			}
			if err := save(cmd, errs, "enabled", added, already, notes, func() error { return cfg.UpdateEnabled(added, nil) }); err != nil || !readOnly {
				return err
			}
			for _, id := range append(added, already...) {
				if err := cfg.SetServerReadOnly(id, true); err != nil {
					return err
				}
				fmt.Fprintf(cmd.stdout, "%s: read-only\n", id)
			}
			return nil
		},
	}
}

func disableVerb() *verb {
	return &verb{
		name:    "disable",
		args:    "<server>...",
		summary: "disable servers again",
		run: func(ctx context.Context, cmd *command) error {
			if len(cmd.args) == 0 {
				return usagef("name at least one server to disable")
			}
			cfg, err := cmd.config()
			if err != nil {
				return err
			}
			// Names that are not IDs are looked up in the catalog; a server
			// that left the catalog can still be disabled by its ID.
			var cat *catalog.Catalog
			var catErr error
			enabled := slices.Clone(cfg.Enabled)
			var errs []error
			var removed, already, notes []string
			for _, name := range cmd.args {
				id := name
				if !slices.Contains(cfg.Enabled, name) {
					if cat == nil && catErr == nil {
						cat, catErr = catalog.Load(ctx, cfg, cmd.catalogOptions(false))
					}
					if catErr != nil {
						errs = append(errs, fmt.Errorf("%q is not enabled, and the catalog cannot be read to look it up: %w", name, catErr))
						continue
					}
					s, err := cat.Match(name)
					if err != nil {
						errs = append(errs, err)
						continue
					}
					if note := s.Note(); note != "" {
						notes = append(notes, note)
					}
					id = s.ID
				}
				if i := slices.Index(enabled, id); i >= 0 {
					enabled = slices.Delete(enabled, i, i+1)
					removed = append(removed, id)
				} else if !slices.Contains(removed, id) {
					already = append(already, id)
				}
			}
			return save(cmd, errs, "disabled", removed, already, notes, func() error { return cfg.UpdateEnabled(nil, removed) })
		},
	}
}

// save makes the change unless a name failed, then says what changed, one
// server a line, after the notes on which server a name found.
func save(cmd *command, errs []error, done string, changed, already, notes []string, write func() error) error {
	if len(errs) > 0 {
		return fmt.Errorf("nothing changed: %w", errors.Join(errs...))
	}
	if len(changed) > 0 {
		if err := write(); err != nil {
			return err
		}
	}
	for _, note := range notes {
		fmt.Fprintln(cmd.stdout, note)
	}
	for _, id := range changed {
		fmt.Fprintf(cmd.stdout, "%s %s\n", done, id)
	}
	for _, id := range already {
		fmt.Fprintf(cmd.stdout, "%s was already %s\n", id, done)
	}
	return nil
}
