package api_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"edgeshop/origin/auth"
)

var acctSecret = bytes.Repeat([]byte("a"), 32)

// acctShop is one origin replica's API on loopback over a SQLite file.
type acctShop struct {
	url string
	db  *sql.DB // plain connection to the same file, to see what changed
}

// acctServer starts an API over a new, empty database.
func acctServer(t *testing.T) *acctShop {
	t.Helper()
	return acctReplica(t, filepath.Join(t.TempDir(), "shop.db"), acctSecret)
}

// acctReplica starts an API over the database at path, as one of several
// replicas sharing the file and the JWT secret. No catalogue is seeded: the
// account routes do not need one.
func acctReplica(t *testing.T, path string, secret []byte) *acctShop {
	t.Helper()
	st, db := openStore(t, path, 0)
	return &acctShop{url: serveAPI(t, st, accountsConfig(t, st, secret, nil), nil), db: db}
}

// send sends one request. contentType "" means application/json when there
// is a body; "-" sends none. Every answer of an account route must be
// uncacheable: private, no-store on success, no-store on error.
func (s *acctShop) send(t *testing.T, method, path, token, contentType, body string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case contentType == "-":
	case contentType != "":
		req.Header.Set("Content-Type", contentType)
	case body != "":
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := response{status: resp.StatusCode, header: resp.Header, body: b}
	cc := r.header.Get("Cache-Control")
	if r.status < 300 && cc != "private, no-store" {
		t.Errorf("%s %s: %d with Cache-Control %q, want private, no-store", method, path, r.status, cc)
	}
	if r.status >= 400 && cc != "no-store" && cc != "private, no-store" {
		t.Errorf("%s %s: error %d with Cache-Control %q, want no-store", method, path, r.status, cc)
	}
	if r.status == http.StatusNoContent && len(r.body) != 0 {
		t.Errorf("%s %s: 204 with a body %q", method, path, r.body)
	}
	return r
}

func (s *acctShop) call(t *testing.T, method, path, token, body string) response {
	t.Helper()
	return s.send(t, method, path, token, "", body)
}

// want sends a request and requires the status; errors must be JSON
// {detail, code}.
func (s *acctShop) want(t *testing.T, method, path, token, body string, status int) response {
	t.Helper()
	r := s.call(t, method, path, token, body)
	if r.status != status {
		t.Fatalf("%s %s %s: %d, want %d (%s)", method, path, body, r.status, status, r.body)
	}
	if status >= 400 {
		checkError(t, r, status)
	}
	return r
}

type acctUser struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	Email    string `json:"email"`
}

type acctPair struct {
	Access  string `json:"access"`
	Refresh string `json:"refresh"`
}

var acctUserKeys = []string{"id", "username", "email"}

func acctCreds(name, password string) string {
	b, _ := json.Marshal(map[string]string{"username": name, "password": password})
	return string(b)
}

func acctJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// acctDecodeUser checks a user body's keys and decodes it.
func acctDecodeUser(t *testing.T, raw []byte) acctUser {
	t.Helper()
	if keys := objectKeys(t, raw); strings.Join(keys, ",") != strings.Join(acctUserKeys, ",") {
		t.Errorf("user keys %v, want %v", keys, acctUserKeys)
	}
	var u acctUser
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&u); err != nil {
		t.Fatalf("user body %s: %v", raw, err)
	}
	return u
}

func (s *acctShop) register(t *testing.T, name, password string) acctUser {
	t.Helper()
	r := s.want(t, "POST", "/auth/users/", "", acctCreds(name, password), http.StatusCreated)
	return acctDecodeUser(t, r.body)
}

// acctDecodePair checks a {access, refresh} body.
func acctDecodePair(t *testing.T, r response) acctPair {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("token pair: %d %s", r.status, r.body)
	}
	if keys := objectKeys(t, r.body); strings.Join(keys, ",") != "access,refresh" {
		t.Errorf("token keys %v, want [access refresh]", keys)
	}
	var p acctPair
	if err := json.Unmarshal(r.body, &p); err != nil || p.Access == "" || p.Refresh == "" || p.Access == p.Refresh {
		t.Fatalf("token pair %s: %v", r.body, err)
	}
	return p
}

func (s *acctShop) login(t *testing.T, name, password string) acctPair {
	t.Helper()
	return acctDecodePair(t, s.call(t, "POST", "/auth/jwt/create/", "", acctCreds(name, password)))
}

func (s *acctShop) refresh(t *testing.T, refresh string) response {
	t.Helper()
	return s.call(t, "POST", "/auth/jwt/refresh/", "", acctJSON(map[string]string{"refresh": refresh}))
}

func (s *acctShop) userCount(t *testing.T) int {
	t.Helper()
	var n int
	if err := s.db.QueryRow("SELECT count(*) FROM users").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func acctFields(t *testing.T, body map[string]any) map[string]any {
	t.Helper()
	f, _ := body["fields"].(map[string]any)
	return f
}

func TestAcctRegister(t *testing.T) {
	s := acctServer(t)
	r := s.want(t, "POST", "/auth/users/", "", `{"username":"alice","password":"alice-password","email":" alice@example.com "}`, http.StatusCreated)
	u := acctDecodeUser(t, r.body)
	if u.ID <= 0 || u.Username != "alice" || u.Email != "alice@example.com" {
		t.Errorf("registered %+v", u)
	}
	if r.header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Errorf("Content-Type %q", r.header.Get("Content-Type"))
	}
	var stored string
	if err := s.db.QueryRow("SELECT password_hash FROM users WHERE id = ?", u.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored, "$2") || strings.Contains(stored, "alice-password") {
		t.Errorf("stored password %q is not a bcrypt hash", stored)
	}
	// Without email, and a username with every allowed punctuation mark
	// and non-ASCII letters.
	u2 := s.register(t, "b.o+b-_@Zoë", "bob-password")
	if u2.Email != "" || u2.Username != "b.o+b-_@Zoë" || u2.ID == u.ID {
		t.Errorf("registered %+v", u2)
	}
	if u3 := s.register(t, "pw72", strings.Repeat("p", 72)); u3.ID == 0 {
		t.Error("72-byte password refused")
	}

	for _, tc := range []struct {
		name, body string
		status     int
		field      string
	}{
		{"duplicate", acctCreds("alice", "another-password"), http.StatusConflict, "username"},
		{"duplicate other case", acctCreds("ALICE", "another-password"), http.StatusConflict, "username"},
		{"duplicate mixed case", acctCreds("Alice", "another-password"), http.StatusConflict, "username"},
		{"short password", acctCreds("carol", "1234567"), http.StatusBadRequest, "password"},
		{"empty password", acctCreds("carol", ""), http.StatusBadRequest, "password"},
		{"short password in characters", acctCreds("carol", "éééé"), http.StatusBadRequest, "password"},
		{"73-byte password", acctCreds("carol", strings.Repeat("p", 73)), http.StatusBadRequest, "password"},
		{"long multibyte password", acctCreds("carol", strings.Repeat("é", 40)), http.StatusBadRequest, "password"},
		{"missing password", `{"username":"carol"}`, http.StatusBadRequest, "password"},
		{"missing username", `{"password":"carol-password"}`, http.StatusBadRequest, "username"},
		{"empty username", acctCreds("", "carol-password"), http.StatusBadRequest, "username"},
		{"space in username", acctCreds("carol smith", "carol-password"), http.StatusBadRequest, "username"},
		{"slash in username", acctCreds("carol/x", "carol-password"), http.StatusBadRequest, "username"},
		{"markup in username", acctCreds("<b>carol</b>", "carol-password"), http.StatusBadRequest, "username"},
		{"NUL in username", acctCreds("carol\x00", "carol-password"), http.StatusBadRequest, "username"},
		{"151-char username", acctCreds(strings.Repeat("c", 151), "carol-password"), http.StatusBadRequest, "username"},
		{"email without @", `{"username":"carol","password":"carol-password","email":"carol.example.com"}`, http.StatusBadRequest, "email"},
		{"email without domain", `{"username":"carol","password":"carol-password","email":"carol@"}`, http.StatusBadRequest, "email"},
		{"email without local part", `{"username":"carol","password":"carol-password","email":"@example.com"}`, http.StatusBadRequest, "email"},
		{"email with space", `{"username":"carol","password":"carol-password","email":"ca rol@example.com"}`, http.StatusBadRequest, "email"},
		{"email with markup", `{"username":"carol","password":"carol-password","email":"<carol@example.com>"}`, http.StatusBadRequest, "email"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.userCount(t)
			r := s.call(t, "POST", "/auth/users/", "", tc.body)
			body := checkError(t, r, tc.status)
			if _, ok := acctFields(t, body)[tc.field]; !ok {
				t.Errorf("error names fields %v, want %q: %s", acctFields(t, body), tc.field, r.body)
			}
			if after := s.userCount(t); after != before {
				t.Errorf("users %d → %d after a refused registration", before, after)
			}
		})
	}
	if r := s.want(t, "POST", "/auth/users/", "", acctCreds("ALICE", "another-password"), http.StatusConflict); !bytes.Contains(r.body, []byte("duplicate_username")) {
		t.Errorf("duplicate body %s", r.body)
	}
	// The original alice still logs in with her own password.
	s.login(t, "alice", "alice-password")
}

func TestAcctLogin(t *testing.T) {
	s := acctServer(t)
	s.register(t, "alice", "alice-password")
	s.register(t, "max", strings.Repeat("m", 72))

	p := s.login(t, "alice", "alice-password")
	r := s.want(t, "GET", "/auth/users/me/", p.Access, "", http.StatusOK)
	if u := acctDecodeUser(t, r.body); u.Username != "alice" {
		t.Errorf("me %+v", u)
	}
	if r := s.call(t, "POST", "/auth/jwt/verify/", "", acctJSON(map[string]string{"token": p.Refresh})); r.status != http.StatusOK {
		t.Errorf("the login's refresh token does not verify: %d %s", r.status, r.body)
	}
	s.login(t, "max", strings.Repeat("m", 72))

	unknown := s.call(t, "POST", "/auth/jwt/create/", "", acctCreds("nobody", "alice-password"))
	wrong := s.call(t, "POST", "/auth/jwt/create/", "", acctCreds("alice", "wrong-password"))
	checkError(t, unknown, http.StatusUnauthorized)
	checkError(t, wrong, http.StatusUnauthorized)
	if !bytes.Equal(unknown.body, wrong.body) {
		t.Errorf("unknown user and wrong password answer differently:\n%s\n%s", unknown.body, wrong.body)
	}
	if unknown.header.Get("Content-Type") != wrong.header.Get("Content-Type") ||
		unknown.header.Get("Content-Length") != wrong.header.Get("Content-Length") {
		t.Errorf("headers differ: %v vs %v", unknown.header, wrong.header)
	}

	for _, tc := range []struct {
		name, body string
		status     int
	}{
		{"wrong password", acctCreds("alice", "alice-passwore"), http.StatusUnauthorized},
		{"password prefix", acctCreds("alice", "alice-passwor"), http.StatusUnauthorized},
		// bcrypt reads 72 bytes: the 72-byte password plus more must fail.
		{"password beyond 72 bytes", acctCreds("max", strings.Repeat("m", 72)+"extra"), http.StatusUnauthorized},
		{"unknown user", acctCreds("nobody", "whatever-pw"), http.StatusUnauthorized},
		{"missing password", `{"username":"alice"}`, http.StatusBadRequest},
		{"empty password", acctCreds("alice", ""), http.StatusBadRequest},
		{"missing username", `{"password":"alice-password"}`, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.call(t, "POST", "/auth/jwt/create/", "", tc.body)
			checkError(t, r, tc.status)
			if bytes.Contains(r.body, []byte("access")) {
				t.Errorf("refused login carries a token: %s", r.body)
			}
		})
	}
}

func TestAcctMe(t *testing.T) {
	s := acctServer(t)
	me := s.register(t, "alice", "alice-password")
	s.register(t, "bob", "bob-password")
	p := s.login(t, "alice", "alice-password")

	got := acctDecodeUser(t, s.want(t, "GET", "/auth/users/me/", p.Access, "", http.StatusOK).body)
	if got != me {
		t.Errorf("me %+v, registered %+v", got, me)
	}
	// Without the trailing slash, the same answer.
	if got := acctDecodeUser(t, s.want(t, "GET", "/auth/users/me", p.Access, "", http.StatusOK).body); got != me {
		t.Errorf("me without slash %+v", got)
	}

	r := s.want(t, "PATCH", "/auth/users/me/", p.Access, `{"email":"alice@example.org"}`, http.StatusOK)
	if u := acctDecodeUser(t, r.body); u.Email != "alice@example.org" || u.ID != me.ID {
		t.Errorf("PATCH answered %+v", u)
	}
	if u := acctDecodeUser(t, s.want(t, "GET", "/auth/users/me/", p.Access, "", http.StatusOK).body); u.Email != "alice@example.org" {
		t.Errorf("email change not visible: %+v", u)
	}
	// The username cannot be changed through PATCH; an empty body object
	// changes nothing.
	if u := acctDecodeUser(t, s.want(t, "PATCH", "/auth/users/me/", p.Access, `{"username":"mallory"}`, http.StatusOK).body); u.Username != "alice" {
		t.Errorf("PATCH renamed the user: %+v", u)
	}
	s.want(t, "PATCH", "/auth/users/me/", p.Access, `{}`, http.StatusOK)
	body := checkError(t, s.call(t, "PATCH", "/auth/users/me/", p.Access, `{"email":"not an email"}`), http.StatusBadRequest)
	if _, ok := acctFields(t, body)["email"]; !ok {
		t.Errorf("bad email error %v", body)
	}
	if u := acctDecodeUser(t, s.want(t, "GET", "/auth/users/me/", p.Access, "", http.StatusOK).body); u.Email != "alice@example.org" {
		t.Errorf("refused PATCH changed the email: %+v", u)
	}
	// Clearing the email is allowed.
	if u := acctDecodeUser(t, s.want(t, "PATCH", "/auth/users/me/", p.Access, `{"email":""}`, http.StatusOK).body); u.Email != "" {
		t.Errorf("email not cleared: %+v", u)
	}
	var bobEmail string
	if err := s.db.QueryRow("SELECT email FROM users WHERE username = 'bob'").Scan(&bobEmail); err != nil || bobEmail != "" {
		t.Errorf("bob's email %q (%v): alice's PATCH touched another user", bobEmail, err)
	}

	for _, tc := range []struct {
		name, auth string
		status     int
	}{
		{"no header", "", http.StatusUnauthorized},
		{"not bearer", "Basic YWxpY2U6YWxpY2UtcGFzc3dvcmQ=", http.StatusUnauthorized},
		{"empty bearer", "Bearer ", http.StatusUnauthorized},
		{"garbage", "Bearer garbage", http.StatusUnauthorized},
		{"refresh token", "Bearer " + p.Refresh, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, m := range []string{"GET", "PATCH"} {
				req, _ := http.NewRequest(m, s.url+"/auth/users/me/", strings.NewReader(`{"email":"x@y.z"}`))
				req.Header.Set("Content-Type", "application/json")
				if tc.auth != "" {
					req.Header.Set("Authorization", tc.auth)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				checkError(t, response{status: resp.StatusCode, header: resp.Header, body: b}, tc.status)
			}
		})
	}
}

func TestAcctSetPassword(t *testing.T) {
	s := acctServer(t)
	s.register(t, "alice", "old-password")
	p1 := s.login(t, "alice", "old-password")
	p2 := s.login(t, "alice", "old-password")

	for _, tc := range []struct {
		name, body string
		field      string
	}{
		{"wrong current", `{"current_password":"wrong-password","new_password":"new-password"}`, "current_password"},
		{"missing current", `{"new_password":"new-password"}`, "current_password"},
		{"short new", `{"current_password":"old-password","new_password":"short"}`, "new_password"},
		{"long new", `{"current_password":"old-password","new_password":"` + strings.Repeat("n", 73) + `"}`, "new_password"},
		{"missing new", `{"current_password":"old-password"}`, "new_password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := checkError(t, s.call(t, "POST", "/auth/users/set_password/", p1.Access, tc.body), http.StatusBadRequest)
			if _, ok := acctFields(t, body)[tc.field]; !ok {
				t.Errorf("error fields %v, want %q", acctFields(t, body), tc.field)
			}
		})
	}
	s.login(t, "alice", "old-password") // nothing changed so far
	s.want(t, "POST", "/auth/users/set_password/", "", `{"current_password":"old-password","new_password":"new-password"}`, http.StatusUnauthorized)

	s.want(t, "POST", "/auth/users/set_password/", p1.Access, `{"current_password":"old-password","new_password":"new-password"}`, http.StatusNoContent)
	s.want(t, "POST", "/auth/jwt/create/", "", acctCreds("alice", "old-password"), http.StatusUnauthorized)
	p3 := s.login(t, "alice", "new-password")
	// Every refresh token issued before the change is revoked.
	for i, old := range []string{p1.Refresh, p2.Refresh} {
		if r := s.refresh(t, old); r.status != http.StatusUnauthorized {
			t.Errorf("refresh token %d issued before set_password: %d %s", i, r.status, r.body)
		}
		s.want(t, "POST", "/auth/jwt/verify/", "", acctJSON(map[string]string{"token": old}), http.StatusUnauthorized)
	}
	// The one issued after works.
	acctDecodePair(t, s.refresh(t, p3.Refresh))
}

func TestAcctRefreshRotates(t *testing.T) {
	s := acctServer(t)
	s.register(t, "alice", "alice-password")
	p := s.login(t, "alice", "alice-password")

	next := acctDecodePair(t, s.refresh(t, p.Refresh))
	if next.Refresh == p.Refresh || next.Access == p.Access {
		t.Error("refresh did not issue new tokens")
	}
	s.want(t, "GET", "/auth/users/me/", next.Access, "", http.StatusOK)
	// The old refresh token worked once.
	if r := s.refresh(t, p.Refresh); r.status != http.StatusUnauthorized {
		t.Fatalf("reused refresh token: %d %s", r.status, r.body)
	} else {
		checkError(t, r, http.StatusUnauthorized)
	}
	// The new one works, once, and so on down the chain.
	third := acctDecodePair(t, s.refresh(t, next.Refresh))
	s.want(t, "POST", "/auth/jwt/refresh/", "", acctJSON(map[string]string{"refresh": next.Refresh}), http.StatusUnauthorized)
	acctDecodePair(t, s.refresh(t, third.Refresh))

	for _, tc := range []struct {
		name, body string
		status     int
	}{
		{"access token", acctJSON(map[string]string{"refresh": third.Access}), http.StatusUnauthorized},
		{"garbage", `{"refresh":"garbage"}`, http.StatusUnauthorized},
		{"missing", `{}`, http.StatusBadRequest},
		{"empty", `{"refresh":""}`, http.StatusBadRequest},
		{"wrong type", `{"refresh":5}`, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.want(t, "POST", "/auth/jwt/refresh/", "", tc.body, tc.status)
		})
	}
}

// Several clients racing to rotate one refresh token: exactly one wins.
func TestAcctRefreshRace(t *testing.T) {
	s := acctServer(t)
	s.register(t, "alice", "alice-password")
	p := s.login(t, "alice", "alice-password")
	const n = 8
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Post(s.url+"/auth/jwt/refresh/", "application/json",
				strings.NewReader(acctJSON(map[string]string{"refresh": p.Refresh})))
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	ok := 0
	for _, st := range statuses {
		switch st {
		case http.StatusOK:
			ok++
		case http.StatusUnauthorized:
		default:
			t.Errorf("concurrent refresh answered %d", st)
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d concurrent refreshes of one token succeeded, want 1 (%v)", ok, n, statuses)
	}
}

func TestAcctLogout(t *testing.T) {
	s := acctServer(t)
	s.register(t, "alice", "alice-password")
	p := s.login(t, "alice", "alice-password")
	other := s.login(t, "alice", "alice-password")
	body := acctJSON(map[string]string{"refresh": p.Refresh})

	if r := s.want(t, "POST", "/auth/logout/", "", body, http.StatusOK); string(r.body) != "{}" {
		t.Errorf("logout body %s", r.body)
	}
	s.want(t, "POST", "/auth/jwt/refresh/", "", body, http.StatusUnauthorized)
	s.want(t, "POST", "/auth/logout/", "", body, http.StatusBadRequest)
	s.want(t, "POST", "/auth/jwt/verify/", "", acctJSON(map[string]string{"token": p.Refresh}), http.StatusUnauthorized)
	// Logging out one session leaves the others.
	acctDecodePair(t, s.refresh(t, other.Refresh))

	for _, tc := range []struct{ name, body string }{
		{"access token", acctJSON(map[string]string{"refresh": p.Access})},
		{"garbage", `{"refresh":"garbage"}`},
		{"missing", `{}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.want(t, "POST", "/auth/logout/", "", tc.body, http.StatusBadRequest)
		})
	}
}

func TestAcctVerify(t *testing.T) {
	s := acctServer(t)
	s.register(t, "alice", "alice-password")
	p := s.login(t, "alice", "alice-password")
	revoked := s.login(t, "alice", "alice-password")
	s.want(t, "POST", "/auth/logout/", "", acctJSON(map[string]string{"refresh": revoked.Refresh}), http.StatusOK)
	forged, err := auth.NewIssuer(bytes.Repeat([]byte("f"), 32), time.Minute, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	forgedAccess, _, _ := forged.Issue(1, auth.Access)

	for _, tc := range []struct {
		name, body string
		status     int
	}{
		{"access", acctJSON(map[string]string{"token": p.Access}), http.StatusOK},
		{"live refresh", acctJSON(map[string]string{"token": p.Refresh}), http.StatusOK},
		{"revoked refresh", acctJSON(map[string]string{"token": revoked.Refresh}), http.StatusUnauthorized},
		{"garbage", `{"token":"garbage"}`, http.StatusUnauthorized},
		{"other secret", acctJSON(map[string]string{"token": forgedAccess}), http.StatusUnauthorized},
		{"missing", `{}`, http.StatusBadRequest},
		{"wrong type", `{"token":["a"]}`, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.want(t, "POST", "/auth/jwt/verify/", "", tc.body, tc.status)
			if tc.status == http.StatusOK && string(r.body) != "{}" {
				t.Errorf("verify body %s, want {}", r.body)
			}
		})
	}
}

// A token of one kind never passes for the other.
func TestAcctTokenKinds(t *testing.T) {
	s := acctServer(t)
	s.register(t, "alice", "alice-password")
	p := s.login(t, "alice", "alice-password")
	for _, path := range []string{"/auth/users/me/", "/api/cart/me/", "/api/wishlist/"} {
		s.want(t, "GET", path, p.Refresh, "", http.StatusUnauthorized)
	}
	s.want(t, "POST", "/auth/jwt/refresh/", "", acctJSON(map[string]string{"refresh": p.Access}), http.StatusUnauthorized)
	// Neither attempt spent the refresh token.
	acctDecodePair(t, s.refresh(t, p.Refresh))
}

func TestAcctDeleteMe(t *testing.T) {
	s := acctServer(t)
	me := s.register(t, "alice", "alice-password")
	s.register(t, "bob", "bob-password")
	p := s.login(t, "alice", "alice-password")

	for _, body := range []string{`{"current_password":"wrong-password"}`, `{}`} {
		b := checkError(t, s.call(t, "DELETE", "/auth/users/me/", p.Access, body), http.StatusBadRequest)
		if _, ok := acctFields(t, b)["current_password"]; !ok {
			t.Errorf("error fields %v", b)
		}
	}
	s.want(t, "DELETE", "/auth/users/me/", "", `{"current_password":"alice-password"}`, http.StatusUnauthorized)
	if u := acctDecodeUser(t, s.want(t, "GET", "/auth/users/me/", p.Access, "", http.StatusOK).body); u != me {
		t.Errorf("after refused deletes: %+v", u)
	}
	if s.userCount(t) != 2 {
		t.Fatal("a refused delete removed a user")
	}

	s.want(t, "DELETE", "/auth/users/me/", p.Access, `{"current_password":"alice-password"}`, http.StatusNoContent)
	s.want(t, "GET", "/auth/users/me/", p.Access, "", http.StatusUnauthorized)
	s.want(t, "POST", "/auth/jwt/create/", "", acctCreds("alice", "alice-password"), http.StatusUnauthorized)
	s.want(t, "POST", "/auth/jwt/refresh/", "", acctJSON(map[string]string{"refresh": p.Refresh}), http.StatusUnauthorized)
	s.want(t, "DELETE", "/auth/users/me/", p.Access, `{"current_password":"alice-password"}`, http.StatusUnauthorized)
	var n int
	if err := s.db.QueryRow("SELECT count(*) FROM users WHERE id = ?", me.ID).Scan(&n); err != nil || n != 0 {
		t.Errorf("deleted user still stored (%d, %v)", n, err)
	}
	if err := s.db.QueryRow("SELECT count(*) FROM refresh_tokens WHERE user_id = ?", me.ID).Scan(&n); err != nil || n != 0 {
		t.Errorf("deleted user's refresh tokens still stored (%d, %v)", n, err)
	}
	s.login(t, "bob", "bob-password")
	// The name is free again.
	if u := s.register(t, "alice", "new-alice-password"); u.ID == me.ID {
		t.Errorf("new alice reuses the deleted id %d", u.ID)
	}
}

// Bodies that are not one JSON object of the right shape are client errors
// on every account route, and change nothing.
func TestAcctBadBodies(t *testing.T) {
	s := acctServer(t)
	s.register(t, "alice", "alice-password")
	p := s.login(t, "alice", "alice-password")
	routes := []struct {
		method, path string
		auth         bool
		good         string // a body that would be accepted
	}{
		{"POST", "/auth/users/", false, acctCreds("carol", "carol-password")},
		{"POST", "/auth/jwt/create/", false, acctCreds("alice", "alice-password")},
		{"POST", "/auth/jwt/refresh/", false, acctJSON(map[string]string{"refresh": p.Refresh})},
		{"POST", "/auth/jwt/verify/", false, acctJSON(map[string]string{"token": p.Access})},
		{"POST", "/auth/logout/", false, acctJSON(map[string]string{"refresh": p.Refresh})},
		{"PATCH", "/auth/users/me/", true, `{"email":"changed@example.com"}`},
		{"POST", "/auth/users/set_password/", true, `{"current_password":"alice-password","new_password":"changed-password"}`},
		{"DELETE", "/auth/users/me/", true, `{"current_password":"alice-password"}`},
	}
	bodies := []struct {
		name, contentType, body string
		status                  int
	}{
		{"empty", "", "", http.StatusBadRequest},
		{"whitespace", "", "  \n", http.StatusBadRequest},
		{"malformed", "", `{"username":`, http.StatusBadRequest},
		{"not an object", "", `["alice"]`, http.StatusBadRequest},
		{"string", "", `"alice"`, http.StatusBadRequest},
		{"null", "", `null`, http.StatusBadRequest},
		{"wrong types", "", `{"username":5,"password":5,"refresh":5,"token":5,"email":5,"current_password":5,"new_password":5}`, http.StatusBadRequest},
		{"trailing data", "", `{} {}`, http.StatusBadRequest},
		{"text/plain", "text/plain", "GOOD", http.StatusUnsupportedMediaType},
		{"form", "application/x-www-form-urlencoded", "username=carol&password=carol-password", http.StatusUnsupportedMediaType},
		{"bad media type", "application/", "GOOD", http.StatusUnsupportedMediaType},
	}
	snapshot := func() string {
		var b strings.Builder
		rows, err := s.db.Query("SELECT id, username, email, password_hash FROM users ORDER BY id")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var u, e, h string
			if err := rows.Scan(&id, &u, &e, &h); err != nil {
				t.Fatal(err)
			}
			b.WriteString(u + " " + e + " " + h + "\n")
		}
		var n int
		if err := s.db.QueryRow("SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NULL").Scan(&n); err != nil {
			t.Fatal(err)
		}
		b.WriteString(strings.Repeat("r", n))
		return b.String()
	}
	before := snapshot()
	for _, rt := range routes {
		for _, bd := range bodies {
			t.Run(rt.method+rt.path+"/"+bd.name, func(t *testing.T) {
				token := ""
				if rt.auth {
					token = p.Access
				}
				body := strings.ReplaceAll(bd.body, "GOOD", rt.good)
				// "null" decodes into a struct as nothing at all: routes
				// whose every field is optional may accept it.
				r := s.send(t, rt.method, rt.path, token, bd.contentType, body)
				if bd.name == "null" && rt.path == "/auth/users/me/" && rt.method == "PATCH" && r.status == http.StatusOK {
					return
				}
				checkError(t, r, bd.status)
			})
		}
	}
	if after := snapshot(); after != before {
		t.Errorf("refused bodies changed the accounts:\nbefore %s\nafter  %s", before, after)
	}
	// A JSON media type with parameters, and a +json suffix, are accepted.
	s.want(t, "POST", "/auth/jwt/verify/", "", acctJSON(map[string]string{"token": p.Access}), http.StatusOK)
	for _, ct := range []string{"application/json; charset=utf-8", "application/vnd.edgeshop+json"} {
		if r := s.send(t, "POST", "/auth/jwt/verify/", "", ct, acctJSON(map[string]string{"token": p.Access})); r.status != http.StatusOK {
			t.Errorf("Content-Type %q: %d %s", ct, r.status, r.body)
		}
	}
	// An oversized body is refused before it is read.
	big := `{"username":"carol","password":"carol-password","email":"` + strings.Repeat("x", 2<<20) + `"}`
	checkError(t, s.call(t, "POST", "/auth/users/", "", big), http.StatusRequestEntityTooLarge)
	if after := snapshot(); after != before {
		t.Error("an oversized registration created a user")
	}
}

// Two origin replicas over one database file with one secret: tokens and
// revocations made by one hold on the other.
func TestAcctReplicas(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shop.db")
	a := acctReplica(t, path, acctSecret)
	b := acctReplica(t, path, acctSecret)

	a.register(t, "alice", "alice-password")
	b.want(t, "POST", "/auth/users/", "", acctCreds("Alice", "other-password"), http.StatusConflict)
	p := a.login(t, "alice", "alice-password")
	if u := acctDecodeUser(t, b.want(t, "GET", "/auth/users/me/", p.Access, "", http.StatusOK).body); u.Username != "alice" {
		t.Errorf("replica b sees %+v", u)
	}
	b.want(t, "POST", "/auth/jwt/verify/", "", acctJSON(map[string]string{"token": p.Refresh}), http.StatusOK)

	next := acctDecodePair(t, a.refresh(t, p.Refresh))
	if r := b.refresh(t, p.Refresh); r.status != http.StatusUnauthorized {
		t.Errorf("replica b accepted a refresh token rotated on a: %d %s", r.status, r.body)
	}
	b.want(t, "POST", "/auth/jwt/verify/", "", acctJSON(map[string]string{"token": p.Refresh}), http.StatusUnauthorized)
	third := acctDecodePair(t, b.refresh(t, next.Refresh))
	a.want(t, "POST", "/auth/jwt/refresh/", "", acctJSON(map[string]string{"refresh": next.Refresh}), http.StatusUnauthorized)

	b.want(t, "POST", "/auth/logout/", "", acctJSON(map[string]string{"refresh": third.Refresh}), http.StatusOK)
	a.want(t, "POST", "/auth/jwt/refresh/", "", acctJSON(map[string]string{"refresh": third.Refresh}), http.StatusUnauthorized)

	b.want(t, "PATCH", "/auth/users/me/", third.Access, `{"email":"alice@example.net"}`, http.StatusOK)
	if u := acctDecodeUser(t, a.want(t, "GET", "/auth/users/me/", p.Access, "", http.StatusOK).body); u.Email != "alice@example.net" {
		t.Errorf("replica a sees %+v after b's change", u)
	}

	// A replica with another secret trusts none of it.
	c := acctReplica(t, path, bytes.Repeat([]byte("o"), 32))
	c.want(t, "GET", "/auth/users/me/", third.Access, "", http.StatusUnauthorized)
	c.login(t, "alice", "alice-password")
}
