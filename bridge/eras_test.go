package bridge

import (
	"os"
	"path/filepath"
	"testing"
)

func TestErasAreRememberedPerOrigin(t *testing.T) {
	dir := t.TempDir()
	e := NewEras(dir)
	e.Set("https://A.example.com/mcp", "modern")
	e.Set("https://a.example.com/other", "modern") // same origin, no second write
	e.Wait()
	if got := NewEras(dir).Get("https://a.example.com/mcp"); got != "modern" {
		t.Errorf("a new bridge reads %q", got)
	}
	if got := NewEras(dir).Get("https://a.example.com:8443/mcp"); got != "" {
		t.Errorf("another port is another origin: %q", got)
	}
	// Another bridge's finding is kept when this one writes.
	other := NewEras(dir)
	other.Set("http://127.0.0.1:9/mcp", "legacy")
	other.Wait()
	e.Set("https://b.example.com/mcp", "legacy")
	e.Wait()
	f := NewEras(dir)
	if f.Get("http://127.0.0.1:9/x") != "legacy" || f.Get("https://a.example.com/") != "modern" || f.Get("https://b.example.com") != "legacy" {
		t.Errorf("after two bridges wrote: %v", f.known)
	}
}

func TestACorruptErasFileIsNeverWrittenOver(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "eras.json")
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := NewEras(dir)
	if e.err == nil {
		t.Fatal("a corrupt file was read without an error")
	}
	e.Set("https://a.example.com/mcp", "modern")
	e.Wait()
	if data, _ := os.ReadFile(path); string(data) != "{not json" {
		t.Errorf("the corrupt file was replaced: %q", data)
	}
	if e.Get("https://a.example.com/mcp") != "modern" {
		t.Error("the finding is not kept in memory either")
	}
}
