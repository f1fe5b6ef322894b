package backstagetest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// TestHeldRequestsWaitUntilReleased: a held request is recorded and then
// waits, answered only once released; later requests go through at once.
func TestHeldRequestsWaitUntilReleased(t *testing.T) {
	s := New(t, catalog)
	held, release := s.Hold()
	answered := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, s.URL+byQuery, nil)
		req.Header.Set("Authorization", bearer(s))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	<-held
	select {
	case status := <-answered:
		t.Fatalf("a held request was answered (%d) before its release", status)
	default:
	}
	if n := len(s.Requests()); n != 1 {
		t.Errorf("%d requests recorded, want the held one", n)
	}
	release()
	if status := <-answered; status != http.StatusOK {
		t.Errorf("released request: status %d", status)
	}
	if p := fetch(t, s, nil); len(p.Items) != len(catalog) {
		t.Errorf("after the release: %d items", len(p.Items))
	}
}

// TestKilledServerRefusesUntilRestarted: a killed portal refuses
// connections; restarted, it answers on the same URL with the same token.
func TestKilledServerRefusesUntilRestarted(t *testing.T) {
	s := New(t, catalog)
	s.Kill()
	if _, err := http.Get(s.URL + byQuery); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("killed server: %v, want connection refused", err)
	}
	s.Restart()
	if p := fetch(t, s, nil); len(p.Items) != len(catalog) {
		t.Errorf("restarted: %d items", len(p.Items))
	}
}

// TestBackstageShapedEntityPassesTheBridgesQuery: an entity of Backstage's
// own shape is selected by kind and spec.type alone, and projected with
// spec.remotes and without annotations.
func TestBackstageShapedEntityPassesTheBridgesQuery(t *testing.T) {
	s := New(t, []json.RawMessage{
		BackstageMCPServerEntity("default", "plain", "https://plain.example.com/mcp", nil),
		BackstageMCPServerEntity("default", "authed", "https://authed.example.com/mcp", map[string]string{"mcp.spotify.com/auth-api-id": "core.auth.github"}),
	})
	p := fetch(t, s, url.Values{"filter": {"kind=api,spec.type=mcp-server"}, "fields": {"metadata.name,metadata.annotations,spec"}})
	if got := names(t, p.Items); !slices.Equal(got, []string{"plain", "authed"}) {
		t.Fatalf("names = %v", got)
	}
	type item struct {
		Metadata struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
		Spec struct {
			Definition *string `json:"definition"`
			Remotes    []struct{ Type, URL string }
		} `json:"spec"`
	}
	items := make([]item, len(p.Items))
	for i, raw := range p.Items {
		if err := json.Unmarshal(raw, &items[i]); err != nil {
			t.Fatal(err)
		}
	}
	plain, authed := items[0], items[1]
	if plain.Metadata.Annotations != nil || plain.Spec.Definition != nil || len(plain.Spec.Remotes) != 1 ||
		plain.Spec.Remotes[0].Type != "streamable-http" || plain.Spec.Remotes[0].URL != "https://plain.example.com/mcp" {
		t.Errorf("plain = %+v", plain)
	}
	if authed.Metadata.Annotations["mcp.spotify.com/auth-api-id"] != "core.auth.github" {
		t.Errorf("authed = %+v", authed)
	}
}
