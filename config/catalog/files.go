package catalog

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// fileSource reads catalog entities from a file, a glob or a folder of
// multi-document YAML.
type fileSource struct {
	entry string // as written in the config, or on the command line
	path  string // resolved
}

func (f fileSource) name() string { return f.entry }
func (f fileSource) kind() string { return "file" }

func (f fileSource) read(_ context.Context) (readResult, error) {
	files, err := f.files()
	if err != nil {
		return readResult{}, err
	}
	var docs []document
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			return readResult{}, fmt.Errorf("reading %s: %w", p, err)
		}
		docs = append(docs, splitDocuments(p, data)...)
	}
	return readResult{docs: docs}, nil
}

// files lists the YAML files the entry stands for, in a stable order.
func (f fileSource) files() ([]string, error) {
	if strings.ContainsAny(f.path, "*?[") {
		matches, err := filepath.Glob(f.path)
		if err != nil {
			return nil, fmt.Errorf("bad pattern %q: %w", f.entry, err)
		}
		if len(matches) == 0 {
			return nil, fmt.Errorf("%q matches no files", f.entry)
		}
		var out []string
		for _, m := range matches {
			if fi, err := os.Stat(m); err == nil && !fi.IsDir() {
				out = append(out, m)
			}
		}
		return out, nil
	}
	fi, err := os.Stat(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: no such file or folder", f.path)
	}
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return []string{f.path}, nil
	}
	var out []string
	err = filepath.WalkDir(f.path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != f.path && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if ext := filepath.Ext(p); !d.IsDir() && (ext == ".yaml" || ext == ".yml") {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading folder %s: %w", f.path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("folder %s holds no .yaml or .yml files", f.path)
	}
	slices.Sort(out)
	return out, nil
}
