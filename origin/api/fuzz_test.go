package api

import (
	"errors"
	"testing"
)

// FuzzDecodeBody decodes arbitrary bytes into the shapes of the origin's
// JSON requests: decodeBody must not panic and must answer nil or a 4xx
// apiError, never an error that would surface as a 500. The anonymous
// request structs of the handlers are repeated here field for field
// (register, login, password change, cart add, address add); the order's
// orderInput is the handler's own type, and a decoded order is validated
// by newOrder too.
func FuzzDecodeBody(f *testing.F) {
	for _, seed := range []string{
		`{"username":"ann","password":"correct horse","email":"ann@example.com"}`,
		`{"username":"ann","password":"correct horse"}`,
		`{"current_password":"a","new_password":"b"}`,
		`{"product":1,"size":"M","color":"red","quantity":2}`,
		`{"is_default":true,"address":"1 Main St","phone":"+1","address_type":"home"}`,
		`{"address_id":1,"items":[{"product_id":1,"quantity":2,"size":"M","color":"red"}]}`,
		`{"address_id":-1,"items":[{"product_id":9223372036854775807,"quantity":1e400}]}`,
		`{"items":null}`, `{} {}`, `[]`, ``, ` `, `{"username":"\ud800"}`, `{"a":` + "\x00",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		check := func(what string, err error) {
			if err == nil {
				return
			}
			var ae *apiError
			if !errors.As(err, &ae) {
				t.Fatalf("%s: %T %v is not an apiError", what, err, err)
			}
			if ae.status < 400 || ae.status > 499 {
				t.Fatalf("%s: status %d, want 4xx", what, ae.status)
			}
		}
		var register struct {
			Username *string `json:"username"`
			Password *string `json:"password"`
			Email    *string `json:"email"`
		}
		check("register", decodeBody(body, &register))
		var login struct {
			Username *string `json:"username"`
			Password *string `json:"password"`
		}
		check("login", decodeBody(body, &login))
		var password struct {
			CurrentPassword *string `json:"current_password"`
			NewPassword     *string `json:"new_password"`
		}
		check("set_password", decodeBody(body, &password))
		var cartAdd struct {
			Product  *int64  `json:"product"`
			Size     *string `json:"size"`
			Color    *string `json:"color"`
			Quantity *int64  `json:"quantity"`
		}
		check("cart add", decodeBody(body, &cartAdd))
		var address struct {
			IsDefault   *bool   `json:"is_default"`
			Address     *string `json:"address"`
			Phone       *string `json:"phone"`
			AddressType *string `json:"address_type"`
		}
		check("address add", decodeBody(body, &address))
		var order orderInput
		if err := decodeBody(body, &order); err != nil {
			check("order create", err)
		} else {
			_, err := newOrder(1, &order)
			check("order validate", err)
		}
	})
}
