package e2e

import (
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The deployment keeps origins private: only the proxy is public, and no
// origin publishes a port (docker-compose.yml; anchors and merges resolved).
func TestComposeOriginsPublishNoPort(t *testing.T) {
	b, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Services map[string]struct {
			Command  []string `yaml:"command"`
			Ports    []any    `yaml:"ports"`
			Networks []string `yaml:"networks"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	origins := 0
	for name, s := range f.Services {
		isOrigin := strings.HasPrefix(name, "origin") || (len(s.Command) > 0 && s.Command[0] == "origin")
		if !isOrigin {
			continue
		}
		origins++
		if len(s.Ports) > 0 {
			t.Errorf("service %s publishes ports %v: origins must be reachable only through the proxy", name, s.Ports)
		}
		if len(s.Networks) != 1 || s.Networks[0] != "internal" {
			t.Errorf("service %s on networks %v, want only the internal one", name, s.Networks)
		}
	}
	if origins != 3 {
		t.Errorf("%d origin services, want 3", origins)
	}
	if p := f.Services["proxy"]; len(p.Ports) != 1 {
		t.Errorf("proxy publishes %v, want its one public port", p.Ports)
	}
}
