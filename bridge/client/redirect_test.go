package client

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// TestTokenNeverFollowsARedirectToAnotherOrigin: a remote that redirects
// elsewhere must not hand that origin the user's token.
func TestTokenNeverFollowsARedirectToAnotherOrigin(t *testing.T) {
	var mu sync.Mutex
	got := map[string]string{}
	record := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			got[name] = r.Header.Get("Authorization")
			mu.Unlock()
		}
	}
	other := httptest.NewServer(record("other"))
	defer other.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("/away", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/landing", http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/here", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/landing", http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/landing", record("same"))
	origin := httptest.NewServer(mux)
	defer origin.Close()

	client := NewHTTPClient()
	for _, path := range []string{"/away", "/here"} {
		req, _ := http.NewRequest(http.MethodGet, origin.URL+path, nil)
		req.Header.Set("Authorization", "Bearer secret")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if got["other"] != "" {
		t.Errorf("the other origin received %q", got["other"])
	}
	if got["same"] != "Bearer secret" {
		t.Errorf("a same-origin redirect lost the token: %q", got["same"])
	}
}
