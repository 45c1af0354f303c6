package fakegenesys

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// exactKeys finds an object key in data that names a field of dst's type
// only case-insensitively. encoding/json matches keys without regard to
// case, but the platform (a Java service) does not: "pagesize" is not
// "pageSize" there, and a client with such a typo must fail here too.
func exactKeys(data []byte, dst any) error {
	var v any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil // decode has reported it already
	}
	return walkKeys(v, reflect.TypeOf(dst), "")
}

func walkKeys(v any, t reflect.Type, path string) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		fields := make(map[string]reflect.Type, t.NumField())
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" || !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			fields[name] = f.Type
		}
		for k, val := range obj {
			ft, ok := fields[k]
			if !ok {
				for name := range fields {
					if strings.EqualFold(name, k) {
						return fmt.Errorf("property %q is not %q: property names are case-sensitive", path+k, name)
					}
				}
				continue
			}
			if err := walkKeys(val, ft, path+k+"."); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		arr, ok := v.([]any)
		if !ok {
			return nil
		}
		for i, el := range arr {
			if err := walkKeys(el, t.Elem(), fmt.Sprintf("%s[%d].", strings.TrimSuffix(path, "."), i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		for k, val := range obj {
			if err := walkKeys(val, t.Elem(), path+k+"."); err != nil {
				return err
			}
		}
	}
	return nil
}
