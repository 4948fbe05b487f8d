package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var testSecret = bytes.Repeat([]byte("k"), MinSecretLen)

func newTestIssuer(t *testing.T) *Issuer {
	t.Helper()
	iss, err := NewIssuer(testSecret, 15*time.Minute, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

func b64(v []byte) string { return base64.RawURLEncoding.EncodeToString(v) }

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// handToken builds header.claims.signature by hand; sign computes the
// signature over the first two parts (nil: an empty signature).
func handToken(t *testing.T, header, claims map[string]any, sign func(signingInput string) []byte) string {
	t.Helper()
	in := b64(mustJSON(t, header)) + "." + b64(mustJSON(t, claims))
	sig := ""
	if sign != nil {
		sig = b64(sign(in))
	}
	return in + "." + sig
}

func hs256(secret []byte) func(string) []byte {
	return func(in string) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(in))
		return m.Sum(nil)
	}
}

// goodClaims are the claims Issue would put in a live access token.
func goodClaims(now time.Time) map[string]any {
	return map[string]any{
		"sub": "7", "typ": Access, "jti": "abc123",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Minute).Unix(),
	}
}

func with(c map[string]any, k string, v any) map[string]any {
	out := make(map[string]any, len(c))
	for kk, vv := range c {
		out[kk] = vv
	}
	if v == nil {
		delete(out, k)
	} else {
		out[k] = v
	}
	return out
}

func TestIssueVerifyRoundTrip(t *testing.T) {
	iss := newTestIssuer(t)
	for _, tc := range []struct {
		kind string
		ttl  time.Duration
	}{{Access, 15 * time.Minute}, {Refresh, time.Hour}} {
		t.Run(tc.kind, func(t *testing.T) {
			before := time.Now()
			tok, c, err := iss.Issue(42, tc.kind)
			if err != nil {
				t.Fatal(err)
			}
			if c.UserID != 42 || c.Kind != tc.kind || c.ID == "" {
				t.Errorf("issued claims %+v", c)
			}
			if d := c.Expiry.Sub(before); d < tc.ttl-2*time.Second || d > tc.ttl+time.Second {
				t.Errorf("expiry %v after issue, want about %v", d, tc.ttl)
			}
			got, err := iss.Verify(tok, tc.kind)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.UserID != 42 || got.Kind != tc.kind || got.ID != c.ID || !got.Expiry.Equal(c.Expiry) {
				t.Errorf("verified %+v, issued %+v", got, c)
			}
			other := Refresh
			if tc.kind == Refresh {
				other = Access
			}
			if _, err := iss.Verify(tok, other); err != ErrInvalid {
				t.Errorf("%s token accepted as %s: %v", tc.kind, other, err)
			}
		})
	}
	a, ca, _ := iss.Issue(1, Access)
	b, cb, _ := iss.Issue(1, Access)
	if a == b || ca.ID == cb.ID {
		t.Error("two tokens share a jti")
	}
}

func TestVerifyRefuses(t *testing.T) {
	iss := newTestIssuer(t)
	now := time.Now()
	hs := map[string]any{"alg": "HS256", "typ": "JWT"}
	signWith := func(m jwt.SigningMethod, key []byte) string {
		tok, err := jwt.NewWithClaims(m, jwt.MapClaims(goodClaims(now))).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	// Sanity: the hand-built good token is accepted, so each refusal
	// below is down to the one thing changed.
	if _, err := iss.Verify(handToken(t, hs, goodClaims(now), hs256(testSecret)), Access); err != nil {
		t.Fatalf("hand-built good token refused: %v", err)
	}
	good, _, _ := iss.Issue(7, Access)
	parts := strings.Split(good, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	claims["sub"] = "8"
	tampered := parts[0] + "." + b64(mustJSON(t, claims)) + "." + parts[2]

	for _, tc := range []struct {
		name, token string
	}{
		{"alg none", handToken(t, map[string]any{"alg": "none", "typ": "JWT"}, goodClaims(now), nil)},
		{"alg none with signature", handToken(t, map[string]any{"alg": "none", "typ": "JWT"}, goodClaims(now), hs256(testSecret))},
		{"HS512 same secret", signWith(jwt.SigningMethodHS512, testSecret)},
		{"HS384 same secret", signWith(jwt.SigningMethodHS384, testSecret)},
		{"RS256 header, HMAC with secret", handToken(t, map[string]any{"alg": "RS256", "typ": "JWT"}, goodClaims(now), hs256(testSecret))},
		{"wrong key", signWith(jwt.SigningMethodHS256, bytes.Repeat([]byte("x"), 32))},
		{"tampered sub", tampered},
		{"expired", handToken(t, hs, with(goodClaims(now), "exp", now.Add(-time.Minute).Unix()), hs256(testSecret))},
		{"not yet valid", handToken(t, hs, with(goodClaims(now), "nbf", now.Add(time.Minute).Unix()), hs256(testSecret))},
		{"missing exp", handToken(t, hs, with(goodClaims(now), "exp", nil), hs256(testSecret))},
		{"missing sub", handToken(t, hs, with(goodClaims(now), "sub", nil), hs256(testSecret))},
		{"numeric sub", handToken(t, hs, with(goodClaims(now), "sub", 7), hs256(testSecret))},
		{"non-numeric sub", handToken(t, hs, with(goodClaims(now), "sub", "alice"), hs256(testSecret))},
		{"zero sub", handToken(t, hs, with(goodClaims(now), "sub", "0"), hs256(testSecret))},
		{"negative sub", handToken(t, hs, with(goodClaims(now), "sub", "-3"), hs256(testSecret))},
		{"empty jti", handToken(t, hs, with(goodClaims(now), "jti", ""), hs256(testSecret))},
		{"missing jti", handToken(t, hs, with(goodClaims(now), "jti", nil), hs256(testSecret))},
		{"missing typ", handToken(t, hs, with(goodClaims(now), "typ", nil), hs256(testSecret))},
		{"empty", ""},
		{"garbage", "not.a.token"},
		{"two parts", parts[0] + "." + parts[1]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := iss.Verify(tc.token, Access)
			if err != ErrInvalid {
				t.Errorf("Verify = %+v, %v; want ErrInvalid", c, err)
			}
		})
	}
}

func TestVerifyTime(t *testing.T) {
	iss := newTestIssuer(t)
	start := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	at := start
	iss.now = func() time.Time { return at }
	tok, _, err := iss.Issue(5, Access)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		at   time.Time
		ok   bool
	}{
		{"at issue", start, true},
		{"within leeway before nbf", start.Add(-3 * time.Second), true},
		{"before nbf beyond leeway", start.Add(-10 * time.Second), false},
		{"just before expiry", start.Add(15*time.Minute - time.Second), true},
		{"within leeway after expiry", start.Add(15*time.Minute + 3*time.Second), true},
		{"expired", start.Add(15*time.Minute + 10*time.Second), false},
		{"long expired", start.Add(24 * time.Hour), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at = tc.at
			_, err := iss.Verify(tok, Access)
			if (err == nil) != tc.ok {
				t.Errorf("Verify at %v: err %v, want ok=%v", tc.at.Sub(start), err, tc.ok)
			}
		})
	}
}

func TestNewIssuer(t *testing.T) {
	for _, tc := range []struct {
		name            string
		secret          []byte
		access, refresh time.Duration
		ok              bool
	}{
		{"ok", testSecret, time.Minute, time.Hour, true},
		{"empty secret", nil, time.Minute, time.Hour, false},
		{"31-byte secret", testSecret[:31], time.Minute, time.Hour, false},
		{"zero access ttl", testSecret, 0, time.Hour, false},
		{"negative refresh ttl", testSecret, time.Minute, -time.Hour, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			iss, err := NewIssuer(tc.secret, tc.access, tc.refresh)
			if (err == nil) != tc.ok || (iss != nil) != tc.ok {
				t.Errorf("NewIssuer = %v, %v; want ok=%v", iss, err, tc.ok)
			}
		})
	}
}

func TestIssuersShareSecret(t *testing.T) {
	a := newTestIssuer(t)
	b := newTestIssuer(t)
	tok, _, _ := a.Issue(3, Refresh)
	if c, err := b.Verify(tok, Refresh); err != nil || c.UserID != 3 {
		t.Errorf("replica with the same secret: %+v, %v", c, err)
	}
	other, err := NewIssuer(bytes.Repeat([]byte("z"), 40), time.Minute, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Verify(tok, Refresh); err != ErrInvalid {
		t.Errorf("issuer with another secret accepted the token: %v", err)
	}
}

func TestHasher(t *testing.T) {
	h, err := NewHasher(4)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := h.Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(hash, "correct horse") || !strings.HasPrefix(hash, "$2a$04$") {
		t.Errorf("hash %q", hash)
	}
	long := strings.Repeat("p", MaxPasswordLen)
	longHash, err := h.Hash(long)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, hash, pw string
		want           bool
	}{
		{"right", hash, "correct horse", true},
		{"wrong", hash, "correct horse!", false},
		{"empty password", hash, "", false},
		{"no user", "", "correct horse", false},
		{"no user, empty password", "", "", false},
		{"not a hash", "plain", "plain", false},
		{"72 bytes", longHash, long, true},
		// bcrypt reads 72 bytes only: a longer password must not match
		// the hash of its first 72 bytes.
		{"73 bytes, 72-byte prefix", longHash, long + "x", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := h.Check(tc.hash, tc.pw); got != tc.want {
				t.Errorf("Check = %v, want %v", got, tc.want)
			}
		})
	}
	if _, err := h.Hash(long + "x"); err == nil {
		t.Error("Hash accepted a 73-byte password")
	}
	for _, cost := range []int{1, 3, 32} {
		if _, err := NewHasher(cost); err == nil {
			t.Errorf("NewHasher(%d) accepted", cost)
		}
	}
}

func TestLoadSecret(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Run("env wins", func(t *testing.T) {
		p := write("env-wins", "from-file")
		got, err := LoadSecret("from-env", p, true)
		if err != nil || string(got) != "from-env" {
			t.Errorf("LoadSecret = %q, %v", got, err)
		}
	})
	t.Run("file trimmed", func(t *testing.T) {
		p := write("trimmed", " \n\tfile-secret-value\r\n\n")
		got, err := LoadSecret("", p, false)
		if err != nil || string(got) != "file-secret-value" {
			t.Errorf("LoadSecret = %q, %v", got, err)
		}
	})
	t.Run("empty file", func(t *testing.T) {
		for _, content := range []string{"", " \n\t\n"} {
			p := write("empty", content)
			if got, err := LoadSecret("", p, true); err == nil {
				t.Errorf("content %q: LoadSecret = %q, want an error", content, got)
			}
		}
	})
	t.Run("missing without create", func(t *testing.T) {
		p := filepath.Join(dir, "missing")
		if got, err := LoadSecret("", p, false); err == nil {
			t.Errorf("LoadSecret = %q, want an error", got)
		}
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("file created without create: %v", err)
		}
	})
	t.Run("nothing set", func(t *testing.T) {
		if _, err := LoadSecret("", "", true); err == nil {
			t.Error("no env and no file: no error")
		}
	})
	t.Run("create", func(t *testing.T) {
		p := filepath.Join(dir, "created", "jwt-secret")
		if err := os.Mkdir(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		first, err := LoadSecret("", p, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(first) < MinSecretLen {
			t.Errorf("created secret is %d bytes, want ≥ %d", len(first), MinSecretLen)
		}
		if _, err := NewIssuer(first, time.Minute, time.Hour); err != nil {
			t.Errorf("created secret refused by NewIssuer: %v", err)
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("secret file mode %v, want 0600", mode)
		}
		second, err := LoadSecret("", p, true)
		if err != nil || !bytes.Equal(first, second) {
			t.Errorf("second call: %q, %v; first was %q", second, err, first)
		}
		third, err := LoadSecret("", p, false)
		if err != nil || !bytes.Equal(first, third) {
			t.Errorf("read back: %q, %v; first was %q", third, err, first)
		}
		entries, _ := os.ReadDir(filepath.Dir(p))
		if len(entries) != 1 {
			t.Errorf("directory holds %d entries, want only the secret (temp files left behind?)", len(entries))
		}
	})
	t.Run("concurrent create", func(t *testing.T) {
		p := filepath.Join(dir, "race", "jwt-secret")
		if err := os.Mkdir(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		const n = 8
		secrets := make([][]byte, n)
		errs := make([]error, n)
		var start, wg sync.WaitGroup
		start.Add(1)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start.Wait()
				secrets[i], errs[i] = LoadSecret("", p, true)
			}()
		}
		start.Done()
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("goroutine %d: %v", i, errs[i])
			}
			if !bytes.Equal(secrets[i], secrets[0]) {
				t.Errorf("goroutine %d got %q, goroutine 0 got %q", i, secrets[i], secrets[0])
			}
		}
		onDisk, err := LoadSecret("", p, false)
		if err != nil || !bytes.Equal(onDisk, secrets[0]) {
			t.Errorf("file holds %q (%v), goroutines got %q", onDisk, err, secrets[0])
		}
		entries, _ := os.ReadDir(filepath.Dir(p))
		if len(entries) != 1 {
			t.Errorf("directory holds %d entries, want only the secret", len(entries))
		}
	})
}

// TestVerifyRemembered: a remembered access token is still refused where
// a refresh token is expected, once expired, and when any byte of it
// differs; the memory stays bounded.
func TestVerifyRemembered(t *testing.T) {
	iss := newTestIssuer(t)
	start := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	at := start
	iss.now = func() time.Time { return at }
	tok, _, err := iss.Issue(7, Access)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second time from memory
		if c, err := iss.Verify(tok, Access); err != nil || c.UserID != 7 || c.Kind != Access {
			t.Fatalf("Verify = %+v, %v; want user 7's access claims", c, err)
		}
	}
	if _, err := iss.Verify(tok, Refresh); !errors.Is(err, ErrInvalid) {
		t.Errorf("remembered access token as a refresh token: %v, want ErrInvalid", err)
	}
	for _, i := range []int{len(tok) - 3, len(tok) / 2, 0} { // signature, payload, header
		b := []byte(tok)
		b[i] ^= 1
		if _, err := iss.Verify(string(b), Access); !errors.Is(err, ErrInvalid) {
			t.Errorf("remembered token with byte %d changed: %v, want ErrInvalid", i, err)
		}
	}
	at = start.Add(15*time.Minute + 10*time.Second)
	if _, err := iss.Verify(tok, Access); !errors.Is(err, ErrInvalid) {
		t.Errorf("remembered token after expiry: %v, want ErrInvalid", err)
	}

	at = start
	for u := range maxVerified + 100 {
		tok, _, err := iss.Issue(int64(u+1), Access)
		if err != nil {
			t.Fatal(err)
		}
		if c, err := iss.Verify(tok, Access); err != nil || c.UserID != int64(u+1) {
			t.Fatalf("Verify token %d = %+v, %v", u, c, err)
		}
	}
	if n := len(iss.verified.m); n > maxVerified {
		t.Errorf("%d tokens remembered, want at most %d", n, maxVerified)
	}
}

// BenchmarkVerify: an access token the issuer has seen (every request of a
// signed-in user but the first) against one it has to parse and check.
func BenchmarkVerify(b *testing.B) {
	iss, err := NewIssuer(testSecret, 15*time.Minute, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	tok, _, err := iss.Issue(42, Access)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name   string
		forget bool
	}{{"remembered", false}, {"parsed", true}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if bc.forget {
					iss.verified.mu.Lock()
					clear(iss.verified.m)
					iss.verified.mu.Unlock()
				}
				if _, err := iss.Verify(tok, Access); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
