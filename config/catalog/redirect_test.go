package catalog

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCredentialsStayOnTheirOrigin: a redirect to another port, another
// host or another scheme leaves Authorization and every configured header
// behind; one from https to http is not followed with them at all.
func TestCredentialsStayOnTheirOrigin(t *testing.T) {
	var mu sync.Mutex
	got := map[string]http.Header{}
	record := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			got[name] = r.Header.Clone()
			mu.Unlock()
		}
	}
	other := httptest.NewServer(record("other")) // another port, plain http
	defer other.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("/away", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/landing", http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/here", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/landing", http.StatusFound)
	})
	mux.HandleFunc("/landing", record("same"))
	origin := httptest.NewServer(mux)
	defer origin.Close()
	tlsOrigin := httptest.NewTLSServer(mux)
	defer tlsOrigin.Close()

	send := func(client *http.Client, url string) error {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer secret")
		req.Header.Set("X-Api-Key", "key")
		req.Header.Set("Mcp-Method", "tools/call")
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	plain := &http.Client{CheckRedirect: SafeRedirects}
	if err := send(plain, origin.URL+"/away"); err != nil {
		t.Fatal(err)
	}
	if h := got["other"]; h.Get("Authorization") != "" || h.Get("X-Api-Key") != "" || h.Get("Mcp-Method") != "tools/call" {
		t.Errorf("another origin received %v", h)
	}
	if err := send(plain, origin.URL+"/here"); err != nil {
		t.Fatal(err)
	}
	if h := got["same"]; h.Get("Authorization") != "Bearer secret" || h.Get("X-Api-Key") != "key" {
		t.Errorf("a redirect on the same origin lost the credentials: %v", h)
	}
	delete(got, "other")
	secure := tlsOrigin.Client()
	secure.CheckRedirect = SafeRedirects
	if err := send(secure, tlsOrigin.URL+"/away"); err == nil || !strings.Contains(err.Error(), "from https to") {
		t.Errorf("https to http with credentials: %v", err)
	}
	if _, ok := got["other"]; ok {
		t.Error("the plain-http origin was reached from https with credentials")
	}
}

func TestInClear(t *testing.T) {
	for url, want := range map[string]bool{
		"http://mcp.example.com/mcp": true, "http://10.0.0.1/mcp": true,
		"https://mcp.example.com/mcp": false, "http://127.0.0.1:8080/mcp": false,
		"http://localhost/mcp": false, "http://[::1]:9/mcp": false,
	} {
		if got := InClear(url); got != want {
			t.Errorf("InClear(%s) = %v, want %v", url, got, want)
		}
	}
}

func TestCheckURL(t *testing.T) {
	for url, ok := range map[string]bool{
		"https://login.example.com/authorize": true, "http://127.0.0.1:8080/cb": true, "http://localhost/x": true,
		"file:///etc/passwd": false, "http://login.example.com/authorize": false, "javascript:alert(1)": false,
		"ms-settings:privacy": false, "https:///no-host": false, "": false,
	} {
		if err := CheckURL(url); (err == nil) != ok {
			t.Errorf("CheckURL(%q) = %v, want ok %v", url, err, ok)
		}
	}
}

func TestSafeClientKeepsAPolicyOfItsOwnAndGivesOneToAClientWithout(t *testing.T) {
	if c := SafeClient(nil, time.Minute); c.CheckRedirect == nil || c.Timeout != time.Minute {
		t.Errorf("a new client: %+v", c)
	}
	plain := &http.Client{Timeout: time.Second}
	if c := SafeClient(plain, 0); c.CheckRedirect == nil || c.Timeout != time.Second || plain.CheckRedirect != nil {
		t.Errorf("a client without a policy: %+v (the given one changed: %v)", c, plain.CheckRedirect != nil)
	}
	own := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if c := SafeClient(own, 0); c != own {
		t.Error("a client with its own policy was replaced")
	}
}
