package settings_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"edgeshop/proxy/settings"
)

func TestTLSSettings(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		want    settings.TLS // when wantErr is empty
		wantErr string       // a part of the error
	}{
		{name: "off by default", want: settings.TLS{HSTS: "max-age=31536000"}},
		{
			name: "flags",
			args: []string{"--tls-cert", "c.pem", "--tls-key", "k.pem", "--redirect-http", "127.0.0.1:8079", "--hsts", "max-age=600; includeSubDomains"},
			want: settings.TLS{CertFile: "c.pem", KeyFile: "k.pem", RedirectHTTP: "127.0.0.1:8079", HSTS: "max-age=600; includeSubDomains"},
		},
		{
			name: "environment",
			env:  map[string]string{"EDGE_TLS_CERT": "c.pem", "EDGE_TLS_KEY": "k.pem", "EDGE_REDIRECT_HTTP": ":80", "EDGE_HSTS": ""},
			want: settings.TLS{CertFile: "c.pem", KeyFile: "k.pem", RedirectHTTP: ":80"},
		},
		{
			name: "hsts with preload, quoted max-age",
			args: []string{"--tls-cert", "c.pem", "--tls-key", "k.pem", "--hsts", `max-age="63072000"; includeSubDomains; preload`},
			want: settings.TLS{CertFile: "c.pem", KeyFile: "k.pem", HSTS: `max-age="63072000"; includeSubDomains; preload`},
		},
		{name: "hsts max-age=0 (forget)", args: []string{"--hsts", "max-age=0"}, want: settings.TLS{HSTS: "max-age=0"}},
		{name: "certificate without key", args: []string{"--tls-cert", "c.pem"}, wantErr: "setting --tls-key / EDGE_TLS_KEY: missing"},
		{name: "key without certificate", env: map[string]string{"EDGE_TLS_KEY": "k.pem"}, wantErr: "setting --tls-cert / EDGE_TLS_CERT: missing"},
		{name: "hsts without max-age", args: []string{"--hsts", "includeSubDomains"}, wantErr: "setting --hsts / EDGE_HSTS: max-age is required"},
		{name: "hsts bad max-age", args: []string{"--hsts", "max-age=1y"}, wantErr: "setting --hsts / EDGE_HSTS: max-age wants whole seconds"},
		{name: "hsts unknown directive", args: []string{"--hsts", "max-age=1; always"}, wantErr: "setting --hsts / EDGE_HSTS: unknown directive"},
		{name: "hsts directive twice", args: []string{"--hsts", "max-age=1; max-age=2"}, wantErr: "setting --hsts / EDGE_HSTS: directive \"max-age\" given twice"},
		{name: "redirect without TLS", args: []string{"--redirect-http", "127.0.0.1:8079"}, wantErr: "setting --redirect-http / EDGE_REDIRECT_HTTP: needs TLS"},
		{
			name:    "redirect on the public address",
			args:    []string{"--tls-cert", "c.pem", "--tls-key", "k.pem", "--redirect-http", "127.0.0.1:8080"},
			wantErr: "setting --redirect-http / EDGE_REDIRECT_HTTP: same address",
		},
		{
			name:    "redirect not host:port",
			args:    []string{"--tls-cert", "c.pem", "--tls-key", "k.pem", "--redirect-http", "8079"},
			wantErr: "setting --redirect-http / EDGE_REDIRECT_HTTP: want host:port",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := settings.Load(tc.args, env(tc.env), io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("error %v, want one line with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.TLS != tc.want {
				t.Errorf("got %+v, want %+v", got.TLS, tc.want)
			}
			if got.TLS.Enabled() != (tc.want.CertFile != "") {
				t.Errorf("Enabled() = %v", got.TLS.Enabled())
			}
		})
	}
}

func TestTLSCertificateFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cert, key := selfSigned(t, "edge.test")
	_, otherKey := selfSigned(t, "other.test")
	certFile, keyFile := write("cert.pem", cert), write("key.pem", key)
	otherKeyFile := write("other-key.pem", otherKey)
	garbage := write("garbage.pem", []byte("not a key\n"))
	unreadable := filepath.Join(dir, "missing.pem")

	for _, tc := range []struct {
		name, cert, key string
		wantErr         string // a part of the error; empty: loads
	}{
		{"pair", certFile, keyFile, ""},
		{"certificate missing", unreadable, keyFile, "setting --tls-cert / EDGE_TLS_CERT: read certificate: open " + unreadable},
		{"key missing", certFile, unreadable, "setting --tls-key / EDGE_TLS_KEY: open " + unreadable},
		{"key not PEM", certFile, garbage, "setting --tls-key / EDGE_TLS_KEY: " + garbage + " holds no PEM private key"},
		{"certificate not PEM", garbage, keyFile, "setting --tls-cert / EDGE_TLS_CERT: certificate " + garbage},
		{"mismatched pair", certFile, otherKeyFile, "setting --tls-cert / EDGE_TLS_CERT: certificate " + certFile + " and key " + otherKeyFile + ": tls: private key does not match public key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := settings.Load([]string{"--tls-cert", tc.cert, "--tls-key", tc.key}, env(nil), io.Discard)
			if err != nil {
				t.Fatal(err) // Load checks names only; the files are read by Certificate
			}
			c, err := s.TLS.Certificate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if cn := c.Leaf().Subject.CommonName; cn != "edge.test" {
					t.Errorf("leaf %q", cn)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v, want one line with %q", err, tc.wantErr)
			}
		})
	}
}

// selfSigned returns a PEM certificate for name and its PEM key.
func selfSigned(t *testing.T, name string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}
