// Package routes names the route template (api.md) a request path belongs
// to, as the origins' router would match it, so that the edge can label
// metrics and spans with http.route without unbounded cardinality. The
// edge does not route by it: every path still goes to the origins.
package routes

import "bytes"

// Other is the name of every path that matches no template.
const Other = "other"

// templates are the origins' routes (origin/api registers them; a test
// checks that the two lists agree). {id} matches a positive integer.
var templates = [...]string{
	"/healthz", "/readyz",
	"/api/products/", "/api/products/{id}/", "/api/products/{id}/availability/",
	"/api/products/popular/", "/api/products/byType/", "/api/products/search/",
	"/api/products/category/", "/api/products/recommendations/",
	"/api/products/categories/", "/api/products/categories/home/", "/api/products/brands/",
	"/api/wishlist/", "/api/wishlist/toggle/",
	"/api/cart/me/", "/api/cart/count/", "/api/cart/add/", "/api/cart/update/", "/api/cart/delete/",
	"/api/address/me/", "/api/address/addresslist/", "/api/address/add/", "/api/address/default/", "/api/address/delete/",
	"/api/order/create/", "/api/order/list/me/", "/api/order/update/",
	"/auth/users/", "/auth/users/me/", "/auth/users/set_password/",
	"/auth/jwt/create/", "/auth/jwt/refresh/", "/auth/jwt/verify/", "/auth/logout/",
	"/api/admin/products/list/", "/api/admin/products/create/",
	"/api/admin/products/update/{id}/", "/api/admin/products/delete/{id}/",
	"/api/admin/categories/create/", "/api/admin/categories/delete/{id}/",
	"/api/admin/brands/create/", "/api/admin/brands/delete/{id}/",
	"/api/admin/orders/", "/api/admin/orders/recent/",
	"/api/admin/orders/{id}/update-status/", "/api/admin/orders/{id}/update-payment-status/",
}

// Count is the number of route indexes Match returns: the templates and
// Other (index 0).
const Count = len(templates) + 1

// byKey maps a template without its final slash to its index (+1).
var byKey = func() map[string]int {
	m := make(map[string]int, len(templates))
	for i, t := range templates {
		m[string(bytes.TrimSuffix([]byte(t), []byte("/")))] = i + 1
	}
	return m
}()

// Name returns the template of index i (Other for 0).
func Name(i int) string {
	if i <= 0 || i > len(templates) {
		return Other
	}
	return templates[i-1]
}

// maxPath bounds the paths Match looks at; longer ones are Other.
const maxPath = 128

// Match returns the index of the template path matches, with or without
// its final slash (the origins answer both), or 0 (Other). It does not
// allocate.
func Match(path []byte) int {
	path = bytes.TrimSuffix(path, []byte("/"))
	if len(path) == 0 || len(path) > maxPath || path[0] != '/' {
		return 0
	}
	var buf [maxPath + 16]byte
	key := buf[:0]
	for seg := range bytes.SplitSeq(path[1:], []byte("/")) {
		key = append(key, '/')
		if positiveInt(seg) {
			key = append(key, "{id}"...)
		} else {
			key = append(key, seg...)
		}
		if len(key) > maxPath+8 {
			return 0
		}
	}
	return byKey[string(key)]
}

// positiveInt reports whether s is a decimal integer above zero without
// a sign or leading zeros, as the origins' {id} is.
func positiveInt(s []byte) bool {
	if len(s) == 0 || len(s) > 18 || s[0] == '0' {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
