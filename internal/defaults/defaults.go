// Package defaults fills the unset fields of a limits struct from its
// defaults, the rule the node API's and the ingress's limits share: a field
// left zero, or set negative, takes the default.
package defaults

import (
	"fmt"
	"reflect"
)

// Fill returns v with every field that is zero or negative replaced by the
// same field of def. T must be a struct whose fields are all signed integers
// (time.Duration among them) or floats: for another kind, zero could be a
// deliberate setting (false, ""), so Fill panics rather than guess, and the
// tests of any package whose limits grow such a field fail at once.
func Fill[T any](v, def T) T {
	out := reflect.ValueOf(&v).Elem()
	d := reflect.ValueOf(def)
	if out.Kind() != reflect.Struct {
		panic(fmt.Sprintf("defaults.Fill: %s is not a struct", out.Type()))
	}
	for i := range out.NumField() {
		f := out.Field(i)
		switch f.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			if f.Int() <= 0 {
				f.SetInt(d.Field(i).Int())
			}
		case reflect.Float32, reflect.Float64:
			if f.Float() <= 0 {
				f.SetFloat(d.Field(i).Float())
			}
		default:
			panic(fmt.Sprintf("defaults.Fill: field %s.%s is a %s, which has no unset value", out.Type(), out.Type().Field(i).Name, f.Kind()))
		}
	}
	return v
}
