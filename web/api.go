package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/s3relay/s3relay/store"
)

// maxAPIBody bounds a management API request body.
const maxAPIBody = 1 << 20

// bindJSON decodes a management API request body into v. Unknown fields,
// trailing data and malformed JSON are EINVALID errors naming the field.
func bindJSON(c echo.Context, v any) error {
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, maxAPIBody+1))
	if err != nil {
		return store.Errorf(store.EINVALID, "Could not read the request body.")
	}
	if len(body) > maxAPIBody {
		return store.Errorf(store.EINVALID, "The request body is larger than %d bytes.", maxAPIBody)
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		var syntaxErr *json.SyntaxError
		switch {
		case errors.As(err, &typeErr):
			return store.FieldErrorf(typeErr.Field, "%s must be a JSON %s.", typeErr.Field, jsonKind(typeErr.Type.Kind().String()))
		case errors.As(err, &syntaxErr):
			return store.Errorf(store.EINVALID, "The request body is not valid JSON (at byte %d).", syntaxErr.Offset)
		case errors.Is(err, io.EOF):
			return store.Errorf(store.EINVALID, "The request body is empty: send a JSON object.")
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return store.FieldErrorf(f, "Unknown field %q.", f)
		default:
			return store.Errorf(store.EINVALID, "The request body is not valid: %s.", strings.TrimPrefix(err.Error(), "json: "))
		}
	}
	if dec.More() {
		return store.Errorf(store.EINVALID, "The request body has data after its JSON object.")
	}
	return nil
}

// jsonKind names a Go kind the way a JSON user thinks of it.
func jsonKind(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "map", "struct", "ptr":
		return "object"
	case "int", "int64", "int32", "uint", "uint64", "float64":
		return "number"
	}
	return fmt.Sprint(kind)
}
