// Package jsonschema writes the JSON Schema (draft 2020-12) of a ZLayer file
// format from the Go types that format is read into, so editors see the same
// keys the parser takes and the two cannot drift apart.
//
// A struct becomes an object that refuses unknown keys, its named structs
// $defs. Each exported field is a property named by its yaml tag (else its
// json tag; "-" leaves it out, ",inline" and untagged embedded structs add
// their fields to the parent). Other tags say what the Go type cannot:
//
//	key:"size"         the YAML key of a field the type's own UnmarshalYAML reads (yaml:"-")
//	doc:"..."          the description
//	required:"true"    the key must be present
//	enum:"a,b"         the allowed values
//	minimum:"1"        least integer; maximum:"9" the greatest
//	schema:"NAME"      the whole value schema is Document.Formats[NAME]
//	keys:"NAME"        a map's keys match Document.Formats[NAME]
//	nullable:"true"    null is accepted too (a key written with nothing under it)
//
// A type whose YAML is not its Go shape (a custom UnmarshalYAML) describes
// itself with a JSONSchema method (Describer); a struct that also takes a
// scalar for the whole object says so with JSONSchemaShorthand.
package jsonschema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Schema is one JSON Schema object. encoding/json sorts its keys, so a
// generated document is byte-for-byte stable.
type Schema = map[string]any

// Draft is the meta-schema every generated document declares.
const Draft = "https://json-schema.org/draft/2020-12/schema"

// DurationPattern is what time.ParseDuration reads (without a sign).
const DurationPattern = `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`

// OneOrList is the schema of one item or a list of them, the shorthand
// every ZLayer format allows for string lists.
func OneOrList(item Schema) Schema {
	list := Schema{"type": "array", "items": item}
	return Schema{"oneOf": []any{item, list}}
}

// Describer is a type that gives its own schema; g makes schemas of the
// types it holds.
type Describer interface {
	JSONSchema(g *Generator) Schema
}

// Shorthand is a struct that also accepts one scalar in place of the object
// (e.g. `image: busybox` for `image: {name: busybox}`).
type Shorthand interface {
	JSONSchemaShorthand() Schema
}

// Document is what a format's schema says besides its root type.
type Document struct {
	ID, Title, Description string
	// Formats are shared value schemas named by schema:"..." and keys:"..."
	// tags (durations, names, paths).
	Formats map[string]Schema
	// NonEmptyStrings gives every plain string minLength 1, for formats
	// whose parser refuses empty values.
	NonEmptyStrings bool
	// Root holds extra keywords of the root object (e.g. anyOf).
	Root Schema
}

// Generator makes the schemas of Go types, collecting named structs in
// $defs.
type Generator struct {
	doc  Document
	defs map[string]Schema
	// owner is the type behind each $defs name, so two types of one name
	// (from different packages) get distinct entries.
	owner map[string]reflect.Type
	err   error
}

var (
	describerType = reflect.TypeFor[Describer]()
	shorthandType = reflect.TypeFor[Shorthand]()
	durationType  = reflect.TypeFor[time.Duration]()
)

// Generate returns the schema document of root (a struct value or type) as
// indented JSON.
func Generate(root any, d Document) ([]byte, error) {
	t, ok := root.(reflect.Type)
	if !ok {
		t = reflect.TypeOf(root)
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("jsonschema: root %s is not a struct", t)
	}
	g := &Generator{doc: d, defs: map[string]Schema{}, owner: map[string]reflect.Type{}}
	s := g.object(t)
	for k, v := range d.Root {
		s[k] = v
	}
	s["$schema"] = Draft
	if d.ID != "" {
		s["$id"] = d.ID
	}
	if d.Title != "" {
		s["title"] = d.Title
	}
	if d.Description != "" {
		s["description"] = d.Description
	}
	if len(g.defs) > 0 {
		s["$defs"] = g.defs
	}
	if g.err != nil {
		return nil, g.err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return nil, fmt.Errorf("jsonschema: encode %s: %w", t, err)
	}
	return b.Bytes(), nil
}

// Of returns the schema of a value of type t as YAML writes it.
func (g *Generator) Of(t reflect.Type) Schema {
	if t.Kind() == reflect.Pointer {
		return g.Of(t.Elem())
	}
	// Value receivers only: the zero value calls the method.
	if t.Implements(describerType) {
		return reflect.Zero(t).Interface().(Describer).JSONSchema(g)
	}
	if t == durationType {
		return Schema{"type": "string", "pattern": DurationPattern}
	}
	switch t.Kind() {
	case reflect.Struct:
		if t.Name() == "" {
			return g.object(t)
		}
		return g.Ref(t)
	case reflect.Slice, reflect.Array:
		return Schema{"type": "array", "items": g.Of(t.Elem())}
	case reflect.Map:
		return Schema{"type": "object", "additionalProperties": g.mapValue(t.Elem())}
	case reflect.String:
		if g.doc.NonEmptyStrings {
			return Schema{"type": "string", "minLength": 1}
		}
		return Schema{"type": "string"}
	case reflect.Bool:
		return Schema{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return Schema{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return Schema{"type": "number"}
	}
	g.fail(fmt.Errorf("jsonschema: no schema for %s", t))
	return Schema{}
}

// mapValue is a map's value schema: a string value takes any scalar, since
// YAML reads `PORT: 8080` into a string as "8080".
func (g *Generator) mapValue(t reflect.Type) Schema {
	if t.Kind() == reflect.String && !t.Implements(describerType) {
		return Schema{"type": []string{"string", "number", "boolean"}}
	}
	return g.Of(t)
}

// Ref returns a reference to t's entry in $defs, making it on first use.
func (g *Generator) Ref(t reflect.Type) Schema {
	name := t.Name()
	if o, ok := g.owner[name]; ok && o != t {
		name = strings.ReplaceAll(t.String(), ".", "_")
	}
	if _, ok := g.owner[name]; !ok {
		g.owner[name] = t // before recursing: a type may hold itself
		g.defs[name] = g.object(t)
	}
	return Schema{"$ref": "#/$defs/" + name}
}

// Format returns a copy of the named shared schema.
func (g *Generator) Format(name string) Schema {
	f, ok := g.doc.Formats[name]
	if !ok {
		g.fail(fmt.Errorf("jsonschema: unknown format %q", name))
	}
	out := make(Schema, len(f))
	for k, v := range f {
		out[k] = v
	}
	return out
}

func (g *Generator) fail(err error) {
	if g.err == nil {
		g.err = err
	}
}

// object is the object schema of struct t.
func (g *Generator) object(t reflect.Type) Schema {
	props := Schema{}
	var required []string
	g.fields(t, props, &required)
	o := Schema{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		o["required"] = required
	}
	if t.Implements(shorthandType) {
		return Schema{"oneOf": []any{reflect.Zero(t).Interface().(Shorthand).JSONSchemaShorthand(), o}}
	}
	return o
}

func (g *Generator) fields(t reflect.Type, props Schema, required *[]string) {
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		name, inline := fieldName(sf)
		if inline {
			ft := sf.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			g.fields(ft, props, required)
			continue
		}
		if name == "" || !sf.IsExported() {
			continue
		}
		s := g.field(sf)
		if sf.Tag.Get("required") == "true" {
			*required = append(*required, name)
		}
		props[name] = s
	}
}

// fieldName is the YAML key of sf ("" for none) and whether its fields
// belong to the parent.
func fieldName(sf reflect.StructField) (string, bool) {
	if k := sf.Tag.Get("key"); k != "" {
		return k, false
	}
	tag, ok := sf.Tag.Lookup("yaml")
	if !ok {
		tag, ok = sf.Tag.Lookup("json")
	}
	name, opts, _ := strings.Cut(tag, ",")
	if name == "-" {
		return "", false
	}
	if sf.Anonymous && name == "" || strings.Contains(","+opts+",", ",inline,") {
		return "", true
	}
	if !ok || name == "" {
		return "", false
	}
	return name, false
}

// field is the schema of one struct field, its tags applied.
func (g *Generator) field(sf reflect.StructField) Schema {
	var s Schema
	if f := sf.Tag.Get("schema"); f != "" {
		s = g.Format(f)
	} else {
		s = g.Of(sf.Type)
	}
	if e := sf.Tag.Get("enum"); e != "" {
		delete(s, "minLength")
		s["enum"] = strings.Split(e, ",")
	}
	for _, k := range []string{"minimum", "maximum"} {
		if v := sf.Tag.Get(k); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				g.fail(fmt.Errorf("jsonschema: field %s: %s %q: %w", sf.Name, k, v, err))
			}
			s[k] = n
		}
	}
	if k := sf.Tag.Get("keys"); k != "" {
		s["propertyNames"] = g.Format(k)
	}
	if sf.Tag.Get("nullable") == "true" {
		s = Schema{"anyOf": []any{Schema{"type": "null"}, s}}
	}
	if d := sf.Tag.Get("doc"); d != "" {
		s["description"] = d
	}
	return s
}
