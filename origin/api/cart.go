package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"edgeshop/origin/store"
)

// Carts is what the wishlist, cart and address routes need from the store.
// Every method takes the caller's user id and treats other users' rows as
// missing (store.ErrNotFound).
type Carts interface {
	Wishlist(ctx context.Context, user int64) ([]store.Product, error)
	ToggleWishlist(ctx context.Context, user, product int64) (added bool, err error)
	// CartLines and CartCount fail with store.ErrNoUser when the user does
	// not exist (their routes do not look the user up first: signedIn).
	CartLines(ctx context.Context, user int64) ([]store.CartLine, error)
	AddToCart(ctx context.Context, user int64, item store.CartItem) error
	DeleteCartLine(ctx context.Context, user, id int64) error
	CartCount(ctx context.Context, user int64) (int64, error)
	SetCartQuantity(ctx context.Context, user, id, quantity int64) (store.CartLine, error)
	Addresses(ctx context.Context, user int64) ([]store.Address, error)
	AddAddress(ctx context.Context, user int64, in store.NewAddress) (store.Address, error)
	DeleteAddress(ctx context.Context, user, id int64) error
	SetDefaultAddress(ctx context.Context, user, id int64) (store.Address, error)
	DefaultAddress(ctx context.Context, user int64) (store.Address, error)
}

const (
	maxVariantLen = 40  // size and colour, in characters
	maxAddressLen = 500 // the schema's CHECKs
	maxPhoneLen   = 40
)

func (a *API) cartRoutes() {
	r := a.router
	r.handle("GET", "/api/wishlist/", a.user(a.wishlist))
	// GET mutates here only because seed clients call it so (api.md).
	r.handle("GET", "/api/wishlist/toggle/", a.user(a.toggleWishlist))
	r.handle("POST", "/api/wishlist/toggle/", a.user(a.toggleWishlist))
	r.handle("GET", "/api/cart/me/", a.signedIn(a.cart))
	r.handle("POST", "/api/cart/add/", a.signedIn(a.addToCart))
	r.handle("DELETE", "/api/cart/delete/", a.user(a.deleteCartLine))
	r.handle("GET", "/api/cart/count/", a.signedIn(a.cartCount))
	r.handle("PATCH", "/api/cart/update/", a.user(a.updateCartLine))
	r.handle("GET", "/api/address/addresslist/", a.user(a.addresses))
	r.handle("POST", "/api/address/add/", a.user(a.addAddress))
	r.handle("DELETE", "/api/address/delete/", a.user(a.deleteAddress))
	r.handle("PATCH", "/api/address/default/", a.user(a.setDefaultAddress))
	r.handle("GET", "/api/address/me/", a.user(a.defaultAddress))
}

var (
	errNoProduct  = errNotFound("product not found")
	errNoCartLine = errNotFound("cart line not found")
	errNoAddress  = errNotFound("address not found")
	errCartLimit  = &apiError{status: http.StatusBadRequest, code: "quantity_limit",
		detail: "a cart line holds at most " + strconv.Itoa(store.MaxCartQuantity),
		fields: map[string][]string{"quantity": {"the line would hold more than " + strconv.Itoa(store.MaxCartQuantity)}}}
	errLastAddress = errBadRequest("last_address", "cannot delete your only address")
)

// notFoundAs turns store.ErrNotFound into e (naming what is missing).
func notFoundAs(err error, e *apiError) error {
	if errors.Is(err, store.ErrNotFound) {
		return e
	}
	return err
}

// writePrivateNoContent answers 204; like writeJSON, never stored by a cache.
func writePrivateNoContent(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "private, no-store")
	w.WriteHeader(http.StatusNoContent)
}

func appendCartLine(b []byte, l *store.CartLine) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, l.ID, 10)
	b = append(b, `,"product":`...)
	b = appendProduct(b, &l.Product)
	b = append(b, `,"quantity":`...)
	b = strconv.AppendInt(b, l.Quantity, 10)
	b = append(b, `,"size":`...)
	b = appendString(b, l.Size)
	b = append(b, `,"color":`...)
	b = appendString(b, l.Color)
	return append(b, '}')
}

func appendAddress(b []byte, ad *store.Address) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, ad.ID, 10)
	b = append(b, `,"is_default":`...)
	b = strconv.AppendBool(b, ad.IsDefault)
	b = append(b, `,"address":`...)
	b = appendString(b, ad.Address)
	b = append(b, `,"phone":`...)
	b = appendString(b, ad.Phone)
	b = append(b, `,"user_id":`...)
	b = strconv.AppendInt(b, ad.UserID, 10)
	b = append(b, `,"address_type":`...)
	b = appendString(b, ad.AddressType)
	return append(b, '}')
}

func (a *API) wishlist(w http.ResponseWriter, r *http.Request, _ params, u store.User) {
	ps, err := a.cfg.Shop.Wishlist(r.Context(), u.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, appendProducts(make([]byte, 0, 1024*len(ps)+2), ps))
}

func (a *API) toggleWishlist(w http.ResponseWriter, r *http.Request, _ params, u store.User) {
	id, err := idParam(r.URL.Query(), "id", "")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	added, err := a.cfg.Shop.ToggleWishlist(r.Context(), u.ID, id)
	if err != nil {
		a.fail(w, r, notFoundAs(err, errNoProduct))
		return
	}
	if !added {
		writePrivateNoContent(w)
		return
	}
	writeJSON(w, http.StatusCreated, []byte(`{"message":"Added to wishlist"}`))
}

func (a *API) cart(w http.ResponseWriter, r *http.Request, _ params, user int64) {
	lines, err := a.cfg.Shop.CartLines(r.Context(), user)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	b := append(make([]byte, 0, 1100*len(lines)+2), '[')
	for i := range lines {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendCartLine(b, &lines[i])
	}
	writeJSON(w, http.StatusOK, append(b, ']'))
}

// variantField checks an optional size or colour: missing or null is "".
func variantField(v validation, field string, s *string) string {
	if s == nil {
		return ""
	}
	if utf8.RuneCountInString(*s) > maxVariantLen {
		v.add(field, "must be at most "+strconv.Itoa(maxVariantLen)+" characters")
	}
	return *s
}

func (a *API) addToCart(w http.ResponseWriter, r *http.Request, _ params, user int64) {
	var in struct {
		Product  *int64  `json:"product"`
		Size     *string `json:"size"`
		Color    *string `json:"color"`
		Quantity *int64  `json:"quantity"`
	}
	if err := decodeJSON(r, &in); err != nil {
		a.failSignedIn(w, r, user, err)
		return
	}
	v := validation{}
	item := store.CartItem{Quantity: 1}
	if in.Product == nil || *in.Product < 1 {
		v.add("product", "required: a product id")
	} else {
		item.ProductID = *in.Product
	}
	if in.Quantity != nil {
		item.Quantity = *in.Quantity
		if item.Quantity < 1 || item.Quantity > store.MaxCartQuantity {
			v.add("quantity", "must be an integer from 1 to "+strconv.Itoa(store.MaxCartQuantity))
		}
	}
	item.Size = variantField(v, "size", in.Size)
	item.Color = variantField(v, "color", in.Color)
	if err := v.err(); err != nil {
		a.failSignedIn(w, r, user, err)
		return
	}
	err := a.cfg.Shop.AddToCart(r.Context(), user, item)
	if errors.Is(err, store.ErrCartQuantity) {
		err = errCartLimit
	}
	if err != nil {
		a.failSignedIn(w, r, user, notFoundAs(err, errNoProduct))
		return
	}
	writeJSON(w, http.StatusOK, []byte(`{"message":"Item added to cart"}`))
}

func (a *API) deleteCartLine(w http.ResponseWriter, r *http.Request, _ params, u store.User) {
	id, err := idParam(r.URL.Query(), "id", "")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.cfg.Shop.DeleteCartLine(r.Context(), u.ID, id); err != nil {
		a.fail(w, r, notFoundAs(err, errNoCartLine))
		return
	}
	writePrivateNoContent(w)
}

// cartCount answers the number of lines, not the sum of quantities: the
// seed counted cart items (rows), and a client's badge shows that.
func (a *API) cartCount(w http.ResponseWriter, r *http.Request, _ params, user int64) {
	n, err := a.cfg.Shop.CartCount(r.Context(), user)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	b := append(make([]byte, 0, 32), `{"cart_count":`...)
	b = strconv.AppendInt(b, n, 10)
	writeJSON(w, http.StatusOK, append(b, '}'))
}

func (a *API) updateCartLine(w http.ResponseWriter, r *http.Request, _ params, u store.User) {
	q := r.URL.Query()
	id, err := idParam(q, "id", "")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	raw, err := requiredParam(q, "count", "")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	n, perr := strconv.ParseInt(raw, 10, 64)
	if perr != nil || n < 1 || n > store.MaxCartQuantity {
		msg := "must be an integer from 1 to " + strconv.Itoa(store.MaxCartQuantity)
		a.fail(w, r, &apiError{status: http.StatusBadRequest, code: "invalid_parameter",
			detail: "query parameter count " + msg, fields: map[string][]string{"count": {msg}}})
		return
	}
	line, err := a.cfg.Shop.SetCartQuantity(r.Context(), u.ID, id, n)
	if err != nil {
		a.fail(w, r, notFoundAs(err, errNoCartLine))
		return
	}
	writeJSON(w, http.StatusOK, appendCartLine(make([]byte, 0, 1100), &line))
}

func (a *API) addresses(w http.ResponseWriter, r *http.Request, _ params, u store.User) {
	list, err := a.cfg.Shop.Addresses(r.Context(), u.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	b := append(make([]byte, 0, 256*len(list)+2), '[')
	for i := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendAddress(b, &list[i])
	}
	writeJSON(w, http.StatusOK, append(b, ']'))
}

func validPhone(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && !strings.ContainsRune(" +-()", c) {
			return false
		}
	}
	return true
}

func (a *API) addAddress(w http.ResponseWriter, r *http.Request, _ params, u store.User) {
	var in struct {
		IsDefault   *bool   `json:"is_default"`
		Address     *string `json:"address"`
		Phone       *string `json:"phone"`
		AddressType *string `json:"address_type"`
	}
	if err := decodeJSON(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	v := validation{}
	var na store.NewAddress
	if in.IsDefault != nil {
		na.IsDefault = *in.IsDefault
	}
	if in.Address != nil {
		na.Address = strings.TrimSpace(*in.Address)
	}
	if n := utf8.RuneCountInString(na.Address); n < 1 || n > maxAddressLen {
		v.add("address", "required: 1 to "+strconv.Itoa(maxAddressLen)+" characters")
	}
	if in.Phone != nil {
		na.Phone = strings.TrimSpace(*in.Phone)
	}
	if n := len(na.Phone); n < 1 || n > maxPhoneLen || !validPhone(na.Phone) {
		v.add("phone", "required: 1 to "+strconv.Itoa(maxPhoneLen)+" digits, spaces or +-()")
	}
	if in.AddressType != nil {
		na.AddressType = *in.AddressType
	}
	switch na.AddressType {
	case "home", "office", "school":
	default:
		v.add("address_type", "required: one of home, office, school")
	}
	if err := v.err(); err != nil {
		a.fail(w, r, err)
		return
	}
	ad, err := a.cfg.Shop.AddAddress(r.Context(), u.ID, na)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, appendAddress(make([]byte, 0, 256), &ad))
}

func (a *API) deleteAddress(w http.ResponseWriter, r *http.Request, _ params, u store.User) {
	id, err := idParam(r.URL.Query(), "id", "")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	err = a.cfg.Shop.DeleteAddress(r.Context(), u.ID, id)
	if errors.Is(err, store.ErrLastAddress) {
		err = errLastAddress
	}
	if err != nil {
		a.fail(w, r, notFoundAs(err, errNoAddress))
		return
	}
	writePrivateNoContent(w)
}

func (a *API) setDefaultAddress(w http.ResponseWriter, r *http.Request, _ params, u store.User) {
	id, err := idParam(r.URL.Query(), "id", "")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ad, err := a.cfg.Shop.SetDefaultAddress(r.Context(), u.ID, id)
	if err != nil {
		a.fail(w, r, notFoundAs(err, errNoAddress))
		return
	}
	writeJSON(w, http.StatusOK, appendAddress(make([]byte, 0, 256), &ad))
}

func (a *API) defaultAddress(w http.ResponseWriter, r *http.Request, _ params, u store.User) {
	ad, err := a.cfg.Shop.DefaultAddress(r.Context(), u.ID)
	if err != nil {
		a.fail(w, r, notFoundAs(err, errNotFound("no default address")))
		return
	}
	writeJSON(w, http.StatusOK, appendAddress(make([]byte, 0, 256), &ad))
}
