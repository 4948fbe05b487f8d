package routes

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
)

// TestTemplatesAreTheOriginsRoutes: the list here is the routes the origin
// registers (read from its source), no more, no less.
func TestTemplatesAreTheOriginsRoutes(t *testing.T) {
	files, err := filepath.Glob("../../origin/api/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("origin/api sources not found: %v", err)
	}
	re := regexp.MustCompile(`\.handle\("[A-Z]+", "([^"]+)"`)
	var origin []string
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(src), -1) {
			if !slices.Contains(origin, m[1]) {
				origin = append(origin, m[1])
			}
		}
	}
	ours := templates[:]
	for _, p := range origin {
		if !slices.Contains(ours, p) {
			t.Errorf("origin route %s is missing here", p)
		}
	}
	for _, p := range ours {
		if !slices.Contains(origin, p) {
			t.Errorf("template %s is not an origin route", p)
		}
	}
}

func TestMatch(t *testing.T) {
	for path, want := range map[string]string{
		"/api/products/":                         "/api/products/",
		"/api/products":                          "/api/products/",
		"/api/products/7/":                       "/api/products/{id}/",
		"/api/products/123456/availability":      "/api/products/{id}/availability/",
		"/api/products/popular/":                 "/api/products/popular/",
		"/api/admin/orders/9/update-status/":     "/api/admin/orders/{id}/update-status/",
		"/auth/users/me/":                        "/auth/users/me/",
		"/healthz":                               "/healthz",
		"/api/products/0/":                       Other, // ids are positive, without leading zeros
		"/api/products/007/":                     Other,
		"/api/products/-1/":                      Other,
		"/api/products/x/":                       Other,
		"/api/cart/me/x.css":                     Other,
		"/api/cart/me/..%2f":                     Other,
		"/API/products/":                         Other,
		"":                                       Other,
		"/":                                      Other,
		"relative":                               Other,
		"/api/products/1/2/3/4/5/6/7/8/9/10/11/": Other,
	} {
		if got := Name(Match([]byte(path))); got != want {
			t.Errorf("Match(%q) = %q, want %q", path, got, want)
		}
	}
	long := make([]byte, 4096)
	for i := range long {
		long[i] = '/'
	}
	if Match(long) != 0 {
		t.Error("a very long path matched")
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	p := []byte("/api/products/12345/availability/")
	if n := testing.AllocsPerRun(100, func() { Match(p) }); n != 0 {
		t.Errorf("%.0f allocations per Match, want 0", n)
	}
}
