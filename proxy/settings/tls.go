package settings

import (
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"edgeshop/proxy/tlsedge"
	"edgeshop/shared/config"
)

// TLS are the public listener's TLS settings, checked.
type TLS struct {
	// CertFile and KeyFile name PEM files: the certificate chain (leaf
	// first) and its private key. Both or neither; empty: plain HTTP.
	CertFile, KeyFile string
	// HSTS is the Strict-Transport-Security value sent on TLS responses;
	// empty: none.
	HSTS string
	// RedirectHTTP is the address of a plain listener that redirects every
	// request to https; empty: none.
	RedirectHTTP string
}

// Enabled reports whether the public listener speaks TLS.
func (t TLS) Enabled() bool { return t.CertFile != "" }

// Certificate reads the configured pair. Settings.Load checks only that
// both files are named: the files are read here, at start, and again on
// each reload, so that an origin-list reload does not depend on them. The
// error is one line naming the setting at fault.
func (t TLS) Certificate() (*tlsedge.Certificate, error) {
	// The key file's own faults first, so that the line names it.
	key, err := os.ReadFile(t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("setting --tls-key / EDGE_TLS_KEY: %v", err)
	}
	if !hasPrivateKey(key) {
		return nil, fmt.Errorf("setting --tls-key / EDGE_TLS_KEY: %s holds no PEM private key", t.KeyFile)
	}
	c, err := tlsedge.Load(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("setting --tls-cert / EDGE_TLS_CERT: %v", err)
	}
	return c, nil
}

func hasPrivateKey(b []byte) bool {
	for {
		var block *pem.Block
		if block, b = pem.Decode(b); block == nil {
			return false
		}
		if strings.HasSuffix(block.Type, "PRIVATE KEY") {
			return true
		}
	}
}

// defaultHSTS: a year, the value browsers' preload lists ask for at least.
const defaultHSTS = "max-age=31536000"

func addTLS(set *config.Set) *TLS {
	var t TLS
	set.String(&t.CertFile, "tls-cert", "EDGE_TLS_CERT", "", "PEM certificate chain for TLS on the public listener (with --tls-key; reloaded on SIGHUP)")
	set.String(&t.KeyFile, "tls-key", "EDGE_TLS_KEY", "", "PEM private key for --tls-cert")
	set.String(&t.HSTS, "hsts", "EDGE_HSTS", defaultHSTS, "Strict-Transport-Security value on TLS responses; empty: none")
	set.String(&t.RedirectHTTP, "redirect-http", "EDGE_REDIRECT_HTTP", "", "address of a plain HTTP listener that redirects every request to https (308); empty: none")
	return &t
}

func (t *TLS) check(s *Settings) error {
	t.CertFile, t.KeyFile = strings.TrimSpace(t.CertFile), strings.TrimSpace(t.KeyFile)
	t.HSTS = strings.TrimSpace(t.HSTS)
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		return errors.New("setting --tls-key / EDGE_TLS_KEY: missing: --tls-cert needs its key")
	case t.CertFile == "" && t.KeyFile != "":
		return errors.New("setting --tls-cert / EDGE_TLS_CERT: missing: --tls-key needs its certificate")
	}
	if err := checkHSTS(t.HSTS); err != nil {
		return fmt.Errorf("setting --hsts / EDGE_HSTS: %v", err)
	}
	if a := t.RedirectHTTP; a != "" {
		var err error
		switch {
		case !t.Enabled():
			err = errors.New("needs TLS on the public listener (--tls-cert and --tls-key)")
		case a == s.Listen || a == s.AdminListen:
			err = fmt.Errorf("same address as --listen or --admin-listen (%s)", a)
		default:
			err = checkAddr(a)
		}
		if err != nil {
			return fmt.Errorf("setting --redirect-http / EDGE_REDIRECT_HTTP: %v", err)
		}
	}
	s.TLS = *t
	return nil
}

// checkHSTS accepts an empty value or a Strict-Transport-Security value
// (RFC 6797 §6.1): ";"-separated directives, of which max-age (required)
// is a number of seconds; includeSubDomains and preload take no value.
func checkHSTS(v string) error {
	if v == "" {
		return nil
	}
	seen := map[string]bool{}
	for d := range strings.SplitSeq(v, ";") {
		name, value, hasValue := strings.Cut(strings.TrimSpace(d), "=")
		name = strings.ToLower(strings.TrimSpace(name))
		value = strings.Trim(strings.TrimSpace(value), `"`)
		if seen[name] {
			return fmt.Errorf("directive %q given twice in %q", name, v)
		}
		seen[name] = true
		switch name {
		case "max-age":
			// 0 is allowed: it tells browsers to forget the policy.
			if _, err := strconv.ParseUint(value, 10, 32); err != nil || !hasValue {
				return fmt.Errorf("max-age wants whole seconds, got %q", value)
			}
		case "includesubdomains", "preload":
			if hasValue {
				return fmt.Errorf("directive %s takes no value", name)
			}
		default:
			return fmt.Errorf("unknown directive %q in %q (want max-age=N[; includeSubDomains][; preload])", name, v)
		}
	}
	if !seen["max-age"] {
		return fmt.Errorf("max-age is required (RFC 6797 §6.1.1), got %q", v)
	}
	return nil
}
