package cache

import (
	"net/http"
	"testing"
	"time"
)

func TestFreshness(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	date := func(d time.Duration) string { return now.Add(d).Format(http.TimeFormat) }
	const s = time.Second
	for _, tc := range []struct {
		name     string
		status   int
		fields   []string
		lifetime time.Duration
		age      time.Duration
		reason   reason
		ttl      int
	}{
		{"max-age", 200, []string{"Cache-Control", "max-age=60"}, 60 * s, 0, stored, 60},
		{"s-maxage over max-age", 200, []string{"Cache-Control", "max-age=600, s-maxage=60"}, 60 * s, 0, stored, 60},
		{"s-maxage shorter than max-age too", 200, []string{"Cache-Control", "s-maxage=600, max-age=60"}, 600 * s, 0, stored, 600},
		{"max-age over Expires", 200, []string{"Cache-Control", "max-age=60", "Expires", date(time.Hour)}, 60 * s, 0, stored, 60},
		{"Expires minus Date", 200, []string{"Date", date(-10 * s), "Expires", date(50 * s)}, 60 * s, 9 * s, stored, 51},
		{"Expires without Date", 200, []string{"Expires", date(30 * s)}, 30 * s, 0, stored, 30},
		{"Expires invalid", 200, []string{"Expires", "0", "Cache-Control", "public"}, 0, 0, reasonNoFreshness, 0},
		{"Expires twice", 200, []string{"Expires", date(30 * s), "Expires", date(60 * s), "ETag", `"x"`}, 0, 0, stored, 600},
		{"Expires in RFC 850", 200, []string{"Expires", now.Add(30 * s).Format("Monday, 02-Jan-06 15:04:05 GMT")}, 30 * s, 0, stored, 30},
		{"Age counts", 200, []string{"Cache-Control", "max-age=60", "Age", "20"}, 60 * s, 20 * s, stored, 40},
		{"Age beyond lifetime", 200, []string{"Cache-Control", "max-age=60", "Age", "90"}, 60 * s, 90 * s, reasonNoFreshness, 0},
		{"Age invalid", 200, []string{"Cache-Control", "max-age=60", "Age", "0, 0", "ETag", `"x"`}, 60 * s, staleAge, stored, 600},
		{"Age twice", 200, []string{"Cache-Control", "max-age=60", "Age", "0", "Age", "0"}, 60 * s, staleAge, reasonNoFreshness, 0},
		{"old Date", 200, []string{"Cache-Control", "max-age=60", "Date", date(-30 * s)}, 60 * s, 29 * s, stored, 31},
		{"Date a second behind", 200, []string{"Cache-Control", "max-age=60", "Date", date(-s)}, 60 * s, 0, stored, 60},
		{"Date ahead", 200, []string{"Cache-Control", "max-age=60", "Date", date(time.Hour)}, 60 * s, 0, stored, 60},
		{"stale windows", 200, []string{"Cache-Control", "max-age=10, stale-while-revalidate=30, stale-if-error=300"}, 10 * s, 0, stored, 310},
		{"validator kept", 200, []string{"Cache-Control", "max-age=10", "ETag", `"x"`}, 10 * s, 0, stored, 610},
		{"must-revalidate closes windows", 200, []string{"Cache-Control", "max-age=10, must-revalidate, stale-if-error=300"}, 10 * s, 0, stored, 10},
		{"no-cache with validator", 200, []string{"Cache-Control", "no-cache", "ETag", `"x"`}, 0, 0, stored, 600},
		{"no-cache without validator", 200, []string{"Cache-Control", "no-cache, max-age=60"}, 60 * s, 0, reasonNoFreshness, 0},
		{"heuristic", 200, []string{"Last-Modified", date(-1000 * s)}, 100 * s, 0, stored, 700},
		{"heuristic capped", 200, []string{"Last-Modified", date(-1000 * time.Hour)}, maxHeuristic, 0, stored, int((maxHeuristic + validatorKeep) / s)},
		{"heuristic not for 201", 201, []string{"Last-Modified", date(-1000 * s)}, 0, 0, reasonStatus, 0},
		{"heuristic when public", 599, []string{"Cache-Control", "public", "Last-Modified", date(-1000 * s)}, 100 * s, 0, stored, 700},
		{"explicit 500", 500, []string{"Cache-Control", "max-age=60"}, 60 * s, 0, stored, 60},
		{"explicit 599", 599, []string{"Cache-Control", "max-age=60"}, 60 * s, 0, stored, 60},
		{"must-understand unknown", 599, []string{"Cache-Control", "max-age=60, must-understand"}, 0, 0, reasonStatus, 0},
		{"must-understand over no-store", 200, []string{"Cache-Control", "max-age=60, must-understand, no-store"}, 60 * s, 0, stored, 60},
		{"partial", 206, []string{"Cache-Control", "max-age=60"}, 0, 0, reasonStatus, 0},
		{"no-store", 200, []string{"Cache-Control", "max-age=60, no-store"}, 0, 0, reasonNoStore, 0},
		{"private", 200, []string{"Cache-Control", `max-age=60, private="x"`}, 0, 0, reasonPrivate, 0},
		{"Set-Cookie", 200, []string{"Cache-Control", "max-age=60", "Set-Cookie", "a=b"}, 0, 0, reasonSetCookie, 0},
		{"Vary star", 200, []string{"Cache-Control", "max-age=60", "Vary", "Accept, *"}, 0, 0, reasonVaryStar, 0},
		{"nothing", 200, nil, 0, 0, reasonNoFreshness, 0},
		{"huge", 200, []string{"Cache-Control", "max-age=2147483648"}, maxDelta * s, 0, stored, int(maxTTL / s)},
	} {
		var fields []field
		for i := 0; i+1 < len(tc.fields); i += 2 {
			fields = append(fields, field{[]byte(tc.fields[i]), []byte(tc.fields[i+1])})
		}
		var a analysis
		var spans []span
		analyze(&a, tc.status, fields, request{}, now, now, 0, &spans)
		if a.reason != tc.reason {
			t.Errorf("%s: reason %q, want %q", tc.name, reasonNames[a.reason], reasonNames[tc.reason])
			continue
		}
		if tc.reason != stored && tc.reason != reasonNoFreshness {
			continue
		}
		if a.e.lifetime != tc.lifetime || a.e.initialAge != tc.age {
			t.Errorf("%s: lifetime %s age %s, want %s %s", tc.name, a.e.lifetime, a.e.initialAge, tc.lifetime, tc.age)
		}
		if tc.reason == stored && a.ttl != tc.ttl {
			t.Errorf("%s: ttl %d, want %d", tc.name, a.ttl, tc.ttl)
		}
	}
}

// §3.5: a response to a request with Authorization is stored only if the
// response says a shared cache may.
func TestAuthorization(t *testing.T) {
	now := time.Now()
	for cc, want := range map[string]reason{
		"max-age=60":                  reasonAuthorization,
		"public, max-age=60":          stored,
		"s-maxage=60":                 stored,
		"must-revalidate, max-age=60": stored,
	} {
		var a analysis
		var spans []span
		analyze(&a, 200, []field{{[]byte("Cache-Control"), []byte(cc)}}, request{authorization: true}, now, now, 0, &spans)
		if a.reason != want {
			t.Errorf("%s: %q, want %q", cc, reasonNames[a.reason], reasonNames[want])
		}
	}
}

// The time a request took counts towards the response's age.
func TestResponseDelay(t *testing.T) {
	now := time.Now()
	var a analysis
	var spans []span
	analyze(&a, 200, []field{{[]byte("Cache-Control"), []byte("max-age=60")}, {[]byte("Age"), []byte("5")}},
		request{}, now, now.Add(2*time.Second), 0, &spans)
	if a.e.initialAge != 7*time.Second {
		t.Errorf("initial age %s, want 7s", a.e.initialAge)
	}
}

func TestMergeFields(t *testing.T) {
	f := func(kv ...string) []field {
		var out []field
		for i := 0; i+1 < len(kv); i += 2 {
			out = append(out, field{[]byte(kv[i]), []byte(kv[i+1])})
		}
		return out
	}
	stored := f("Content-Type", "text/plain", "ETag", `"a"`, "X-A", "1", "X-A", "2", "Content-Encoding", "gzip", "Cache-Control", "max-age=1")
	fresh := f("X-A", "3", "ETag", `"b"`, "Content-Encoding", "br", "Content-Length", "0", "Cache-Control", "max-age=60", "Set-Cookie", "s=1")
	got := mergeFields(nil, stored, fresh)
	want := f("Content-Type", "text/plain", "ETag", `"a"`, "Content-Encoding", "gzip", "X-A", "3", "Cache-Control", "max-age=60")
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range got {
		if string(got[i].name) != string(want[i].name) || string(got[i].value) != string(want[i].value) {
			t.Errorf("field %d: got %s: %s, want %s: %s", i, got[i].name, got[i].value, want[i].name, want[i].value)
		}
	}
}

func TestEntryRoundTrip(t *testing.T) {
	e := entry{
		status: 203, flags: flagNoCache | flagSMaxAge, stored: 1234, initialAge: 5 * time.Second,
		lifetime: time.Minute, swr: time.Second, sie: time.Hour, gen: 42,
		etag: []byte(`"e"`), lastMod: []byte("lm"), date: []byte("d"), keys: []byte("a b"),
		varyNames: []byte("accept"), varyValues: []byte{3, 'x', 'y'},
		headers: appendField(nil, []byte("X"), []byte("y")), body: []byte("body"),
	}
	var d entry
	if err := d.decode(e.encode(nil)); err != nil {
		t.Fatal(err)
	}
	if d.status != e.status || d.flags != e.flags || d.stored != e.stored || d.initialAge != e.initialAge ||
		d.lifetime != e.lifetime || d.swr != e.swr || d.sie != e.sie || d.gen != e.gen ||
		string(d.etag) != string(e.etag) || string(d.lastMod) != string(e.lastMod) || string(d.date) != string(e.date) ||
		string(d.keys) != string(e.keys) || string(d.varyNames) != string(e.varyNames) ||
		string(d.varyValues) != string(e.varyValues) || string(d.headers) != string(e.headers) || string(d.body) != string(e.body) {
		t.Errorf("got %+v\nwant %+v", d, e)
	}
	for _, bad := range [][]byte{nil, {kindResponse}, append(e.encode(nil)[:entryFixed], 200)} {
		if d.decode(bad) == nil {
			t.Errorf("%q decoded", bad)
		}
	}
}

func TestEtagMatch(t *testing.T) {
	for _, tc := range []struct {
		list, etag string
		match      bool
	}{
		{`"a"`, `"a"`, true},
		{`W/"a"`, `"a"`, true},
		{`"a"`, `W/"a"`, true},
		{`"b", "a"`, `"a"`, true},
		{`"x,y", "a"`, `"a"`, true},
		{`"x,y"`, `"y"`, false},
		{`*`, `"a"`, true},
		{`*`, ``, true},
		{`"a"`, ``, false},
		{`"b"`, `"a"`, false},
		{``, `"a"`, false},
	} {
		if got := etagMatch([]byte(tc.list), []byte(tc.etag)); got != tc.match {
			t.Errorf("%s vs %s: %v", tc.list, tc.etag, got)
		}
	}
}
