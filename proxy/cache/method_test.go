package cache_test

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// TestResponsesToBodyChangingMethodsAreNotStored has an origin mark its
// answer to every method shareable for a minute: a later GET of the same
// URI still goes to the origin and never gets the answer to the POST, PUT,
// PATCH or DELETE (RFC 9111 §3: only methods defined as cacheable, and
// this cache stores GET and HEAD only).
func TestResponsesToBodyChangingMethodsAreNotStored(t *testing.T) {
	o := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		respond(200, "answer to "+string(ctx.Method()), "Cache-Control", "public, max-age=60")(ctx)
	})
	e := startEdge(t, o, edgeOptions{})
	for _, method := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		t.Run(method, func(t *testing.T) {
			path := "/orders/" + method
			for range 2 {
				if a := e.do(t, method, path); a.body != "answer to "+method {
					t.Fatalf("%s answered %q", method, a.body)
				}
			}
			before := o.requests()
			a := e.get(t, path)
			if a.body != "answer to GET" {
				t.Errorf("GET after %s was served %q", method, a.body)
			}
			if o.requests() != before+1 {
				t.Errorf("GET after %s did not go to the origin", method)
			}
		})
	}
}
