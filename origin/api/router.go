// Package api serves the shop's HTTP API (api.md) over the store: routing,
// request decoding, JSON rendering, cache headers and error mapping.
package api

import (
	"net/http"
	"strconv"
	"strings"

	"edgeshop/origin/tracing"
)

// params holds the numeric path parameters of a matched route ({id}).
type params struct{ id int64 }

type handlerFunc func(w http.ResponseWriter, r *http.Request, p params)

type route struct {
	segs    []string // "{id}" matches a positive integer
	pattern string   // as registered: the span name and http.route
	methods map[string]handlerFunc
}

// router matches method and path. A path answers the same with or without
// its final slash (api.md); an unknown path is a JSON 404, a known path with
// another method a JSON 405 with Allow.
type router struct {
	exact    map[string]*route // literal paths, without the final slash
	patterns []*route
}

func newRouter() *router { return &router{exact: map[string]*route{}} }

func (rt *router) handle(method, path string, h handlerFunc) {
	key := strings.TrimSuffix(path, "/")
	segs := strings.Split(strings.Trim(key, "/"), "/")
	literal := !strings.Contains(key, "{")
	var r *route
	if literal {
		r = rt.exact[key]
	} else {
		for _, p := range rt.patterns {
			if strings.Join(p.segs, "/") == strings.Join(segs, "/") {
				r = p
			}
		}
	}
	if r == nil {
		r = &route{segs: segs, pattern: path, methods: map[string]handlerFunc{}}
		if literal {
			rt.exact[key] = r
		} else {
			rt.patterns = append(rt.patterns, r)
		}
	}
	r.methods[method] = h
}

func (rt *router) match(path string) (*route, params, bool) {
	key := strings.TrimSuffix(path, "/")
	if r, ok := rt.exact[key]; ok {
		return r, params{}, true
	}
	segs := strings.Split(strings.Trim(key, "/"), "/")
next:
	for _, r := range rt.patterns {
		if len(r.segs) != len(segs) {
			continue
		}
		var p params
		for i, s := range r.segs {
			if s == "{id}" {
				id, err := strconv.ParseInt(segs[i], 10, 64)
				// One spelling per id (no "+7", "007"): one cache entry.
				if err != nil || id <= 0 || segs[i][0] < '1' || segs[i][0] > '9' {
					continue next
				}
				p.id = id
			} else if s != segs[i] {
				continue next
			}
		}
		return r, p, true
	}
	return nil, params{}, false
}

func (rt *router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rte, p, ok := rt.match(r.URL.Path)
	if !ok {
		writeError(w, errNotFound("no such route"))
		return
	}
	method := r.Method
	if method == http.MethodHead {
		method = http.MethodGet
	}
	h, ok := rte.methods[method]
	if !ok {
		allow := make([]string, 0, len(rte.methods))
		for m := range rte.methods {
			allow = append(allow, m)
			if m == http.MethodGet {
				allow = append(allow, http.MethodHead)
			}
		}
		w.Header().Set("Allow", strings.Join(sortedStrings(allow), ", "))
		writeError(w, &apiError{status: http.StatusMethodNotAllowed, code: "method_not_allowed",
			detail: "method " + r.Method + " not allowed"})
		return
	}
	tracing.SetRoute(r, rte.pattern)
	h(w, r, p)
}

func sortedStrings(s []string) []string {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}
