package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"unicode/utf8"

	"edgeshop/origin/store"
)

// Orders is what the order routes need from the store.
type Orders interface {
	CreateOrder(ctx context.Context, in store.NewOrder, idem *store.Idempotency, render func(*store.Order) store.Response) (store.PlacedOrder, error)
	UserOrders(ctx context.Context, user int64, page, size int) ([]store.Order, int64, error)
	CancelOrder(ctx context.Context, user, id int64) (store.Order, error)
}

const (
	maxIdempotencyKeyLen = 255
	maxLineTextLen       = 50 // size and color of an order line
)

func (a *API) orderRoutes() {
	r := a.router
	r.handle("POST", "/api/order/create/", a.signedIn(a.createOrder))
	r.handle("GET", "/api/order/list/me/", a.user(a.myOrders))
	r.handle("PATCH", "/api/order/update/", a.user(a.updateOrder))
}

// appendOrder renders o as api.md's Order, in the seed's key order:
// {"id","total_amount","status","payment_status","created_at","updated_at",
// "items":[{"id","quantity","price","size","color","product"}],"address"}.
// Money is a two-place decimal string ("59.98"); each item's product and the
// address are the snapshots taken when the order was placed, the product in
// the catalogue's Product shape. The admin routes render orders with it too.
func appendOrder(b []byte, o *store.Order) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, o.ID, 10)
	b = append(b, `,"total_amount":`...)
	b = appendCentsString(b, o.TotalCents)
	b = append(b, `,"status":`...)
	b = appendString(b, o.Status)
	b = append(b, `,"payment_status":`...)
	b = appendString(b, o.PaymentStatus)
	b = append(b, `,"created_at":`...)
	b = appendString(b, o.CreatedAt)
	b = append(b, `,"updated_at":`...)
	b = appendString(b, o.UpdatedAt)
	b = append(b, `,"items":[`...)
	for i := range o.Items {
		it := &o.Items[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = strconv.AppendInt(b, it.ID, 10)
		b = append(b, `,"quantity":`...)
		b = strconv.AppendInt(b, it.Quantity, 10)
		b = append(b, `,"price":`...)
		b = appendCentsString(b, it.PriceCents)
		b = append(b, `,"size":`...)
		b = appendString(b, it.Size)
		b = append(b, `,"color":`...)
		b = appendString(b, it.Color)
		b = append(b, `,"product":`...)
		b = appendProduct(b, &it.Product)
		b = append(b, '}')
	}
	b = append(b, `],"address":{"id":`...)
	ad := &o.Address
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
	return append(b, `}}`...)
}

// appendOrderPage renders a DRF-style page of orders
// ({"count","next","previous","results"}), as appendPage does for
// products; the user's list and the admin lists share it.
func appendOrderPage(b []byte, r *http.Request, page, size int, total int64, orders []store.Order) []byte {
	b = append(b, `{"count":`...)
	b = strconv.AppendInt(b, total, 10)
	b = append(b, `,"next":`...)
	if int64(page)*int64(size) < total {
		b = appendString(b, pageURL(r, page+1))
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"previous":`...)
	if page > 1 {
		b = appendString(b, pageURL(r, page-1))
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"results":[`...)
	for i := range orders {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendOrder(b, &orders[i])
	}
	return append(b, "]}"...)
}

// productError is an order error that names the product at fault
// ({"detail","code","product"}), so a client can point at the line.
type productError struct {
	*apiError
	product int64
}

func writeProductError(w http.ResponseWriter, e productError) {
	b := append([]byte(`{"detail":`), appendString(nil, e.detail)...)
	b = append(b, `,"code":`...)
	b = appendString(b, e.code)
	b = append(b, `,"product":`...)
	b = strconv.AppendInt(b, e.product, 10)
	b = append(b, "}\n"...)
	h := w.Header()
	h.Set("Content-Type", jsonType)
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(e.status)
	_, _ = w.Write(b)
}

// idempotencyKey returns the request's Idempotency-Key, "" when it has
// none: one value of 1 to 255 printable ASCII characters.
func idempotencyKey(r *http.Request) (string, error) {
	vs := r.Header.Values("Idempotency-Key")
	if len(vs) == 0 {
		return "", nil
	}
	bad := errBadRequest("invalid_idempotency_key", "Idempotency-Key must be one value of 1 to 255 printable ASCII characters")
	if len(vs) > 1 || len(vs[0]) == 0 || len(vs[0]) > maxIdempotencyKeyLen {
		return "", bad
	}
	for i := 0; i < len(vs[0]); i++ {
		if c := vs[0][i]; c < 0x20 || c > 0x7e {
			return "", bad
		}
	}
	return vs[0], nil
}

type orderLineInput struct {
	ProductID *int64  `json:"product_id"`
	Quantity  *int64  `json:"quantity"`
	Size      *string `json:"size"`
	Color     *string `json:"color"`
}

type orderInput struct {
	AddressID *int64            `json:"address_id"`
	Items     *[]orderLineInput `json:"items"`
}

// newOrder validates a decoded create request.
func newOrder(user int64, in *orderInput) (store.NewOrder, error) {
	v := validation{}
	if in.AddressID == nil || *in.AddressID < 1 {
		v.add("address_id", "required: the id of one of your addresses")
	}
	o := store.NewOrder{UserID: user}
	if in.AddressID != nil {
		o.AddressID = *in.AddressID
	}
	switch {
	case in.Items == nil || len(*in.Items) == 0:
		v.add("items", "required: at least one line")
	case len(*in.Items) > store.MaxOrderLines:
		v.add("items", fmt.Sprintf("at most %d lines", store.MaxOrderLines))
	default:
		for i, l := range *in.Items {
			field := func(name string) string { return fmt.Sprintf("items[%d].%s", i, name) }
			if l.ProductID == nil || *l.ProductID < 1 {
				v.add(field("product_id"), "required: a product id")
			}
			if l.Quantity == nil || *l.Quantity < 1 || *l.Quantity > store.MaxLineQuantity {
				v.add(field("quantity"), fmt.Sprintf("required: an integer from 1 to %d", store.MaxLineQuantity))
			}
			line := store.OrderLine{}
			for _, t := range []struct {
				name string
				in   *string
				out  *string
			}{{"size", l.Size, &line.Size}, {"color", l.Color, &line.Color}} {
				if t.in == nil {
					continue
				}
				if len(*t.in) > maxLineTextLen || !utf8.ValidString(*t.in) {
					v.add(field(t.name), fmt.Sprintf("at most %d characters", maxLineTextLen))
				}
				*t.out = *t.in
			}
			if l.ProductID != nil && l.Quantity != nil {
				line.ProductID, line.Quantity = *l.ProductID, *l.Quantity
			}
			o.Lines = append(o.Lines, line)
		}
	}
	return o, v.err()
}

// createOrder places an order (api.md, POST /api/order/create/). With an
// Idempotency-Key the first response is kept with the order, in its
// transaction, and replayed to retries with the same body; the body is
// compared by its SHA-256, byte for byte.
func (a *API) createOrder(w http.ResponseWriter, r *http.Request, _ params, user int64) {
	key, err := idempotencyKey(r)
	if err != nil {
		a.failSignedIn(w, r, user, err)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			a.failSignedIn(w, r, user, errTooLarge())
		} else {
			a.failSignedIn(w, r, user, errBadRequest("bad_body", "could not read request body"))
		}
		return
	}
	// decodeJSON checks the Content-Type and decodes strictly; it reads
	// the body again from the bytes kept for hashing.
	r.Body = io.NopCloser(bytes.NewReader(body))
	var in orderInput
	if err := decodeJSON(r, &in); err != nil {
		a.failSignedIn(w, r, user, err)
		return
	}
	order, err := newOrder(user, &in)
	if err != nil {
		a.failSignedIn(w, r, user, err)
		return
	}
	var idem *store.Idempotency
	if key != "" {
		sum := sha256.Sum256(body)
		idem = &store.Idempotency{Key: key, RequestHash: hex.EncodeToString(sum[:])}
	}
	placed, err := a.cfg.Shop.CreateOrder(r.Context(), order, idem, func(o *store.Order) store.Response {
		return store.Response{Status: http.StatusCreated, Body: appendOrder(make([]byte, 0, 2048), o)}
	})
	var pe *store.ProductError
	switch {
	case err == nil:
	case a.userGone(r, user):
		a.fail(w, r, errBadToken)
		return
	case errors.As(err, &pe) && errors.Is(pe.Err, store.ErrOutOfStock):
		writeProductError(w, productError{&apiError{status: http.StatusConflict, code: "out_of_stock",
			detail: fmt.Sprintf("not enough stock for product %d", pe.ProductID)}, pe.ProductID})
		return
	case errors.As(err, &pe):
		writeProductError(w, productError{errBadRequest("unknown_product",
			fmt.Sprintf("product %d does not exist", pe.ProductID)), pe.ProductID})
		return
	case errors.Is(err, store.ErrAddressNotFound):
		a.fail(w, r, &apiError{status: http.StatusBadRequest, code: "invalid_address",
			detail: "address_id is not one of your addresses", fields: map[string][]string{"address_id": {"not one of your addresses"}}})
		return
	case errors.Is(err, store.ErrIdempotencyKeyReused):
		a.fail(w, r, &apiError{status: http.StatusUnprocessableEntity, code: "idempotency_key_reused",
			detail: "Idempotency-Key was already used with a different request body"})
		return
	case errors.Is(err, store.ErrInvalidOrder):
		a.fail(w, r, errBadRequest("invalid", err.Error()))
		return
	default:
		a.fail(w, r, err)
		return
	}
	if placed.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	} else {
		a.purgeStock(placed.Order.Items)
	}
	writeJSON(w, placed.Response.Status, placed.Response.Body)
}

// purgeStock tells the edges that the availability of these items'
// products changed.
func (a *API) purgeStock(items []store.OrderItem) {
	keys := make([]string, 0, len(items))
	seen := map[int64]bool{}
	for _, it := range items {
		if !seen[it.ProductID] {
			seen[it.ProductID] = true
			keys = append(keys, "stock-"+strconv.FormatInt(it.ProductID, 10))
		}
	}
	if len(keys) > 0 {
		a.cfg.Purger.Purge(keys...)
	}
}

func (a *API) myOrders(w http.ResponseWriter, r *http.Request, _ params, u store.User) {
	page, size, _, err := pageParams(r.URL.Query())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	orders, total, err := a.cfg.Shop.UserOrders(r.Context(), u.ID, page, size)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, appendOrderPage(make([]byte, 0, 8<<10), r, page, size, total, orders))
}

// updateOrder lets the owner cancel a pending order (the only change a
// user may make); its stock goes back in the same transaction.
func (a *API) updateOrder(w http.ResponseWriter, r *http.Request, _ params, u store.User) {
	id, err := idParam(r.URL.Query(), "id", "")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var in struct {
		Status *string `json:"status"`
	}
	if err := decodeJSON(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	if in.Status == nil || *in.Status != store.OrderCancelled {
		a.fail(w, r, &apiError{status: http.StatusBadRequest, code: "invalid_status",
			detail: `status must be "cancelled": the only change a customer can make`,
			fields: map[string][]string{"status": {`must be "cancelled"`}}})
		return
	}
	o, err := a.cfg.Shop.CancelOrder(r.Context(), u.ID, id)
	if errors.Is(err, store.ErrNotCancellable) {
		err = &apiError{status: http.StatusConflict, code: "not_cancellable", detail: "only a pending order can be cancelled"}
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.purgeStock(o.Items)
	writeJSON(w, http.StatusOK, appendOrder(make([]byte, 0, 2048), &o))
}
