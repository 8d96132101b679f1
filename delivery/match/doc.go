// Package match implements mapping triggers: the small language, modelled on
// Segment's subscription syntax, that says which events a mapping takes.
//
// A trigger is parsed once with [Parse] and evaluated many times with
// [Trigger.Match]. A parsed [Trigger] is immutable and safe for concurrent use.
//
//	type = "track" and event = "Order Completed"
//	properties.total >= 100 or context.library.name starts_with "analytics"
//	(type = "identify" or type = "group") and traits.plan exists
//
// # Fields
//
// A condition starts with a field: one of type, event, name, userId,
// anonymousId, messageId and topic (publish-API events are matched by topic),
// or a dotted path into properties, traits or context, such as
// properties.total, traits.plan or context.library.name. Paths are literal
// JSON paths: properties.plan reads the event's "properties" object whatever
// the event's type. A path segment that is a decimal number also indexes
// arrays (properties.products.0.sku). Path segments are made of letters,
// digits, '_' and '-'; as in Segment's FQL, a backslash makes the next
// character part of the key, so properties.first\ name reads the key
// "first name" and properties.a\.b the key "a.b". Field names and keywords are
// case-sensitive, as in Segment.
//
// # Operators and values
//
// Values are double-quoted strings with JSON escapes (\" \\ \/ \b \f \n \r \t
// \uXXXX), single-quoted strings with the same escapes (Segment's FQL accepts
// both), numbers (12, -3.5, 1e3), true, false and null.
//
//	=  !=                     equality, see below
//	<  <=  >  >=              numeric comparison; the value must be a number
//	contains  not_contains    substring of a string, or element of an array
//	starts_with  ends_with    prefix or suffix of a string
//	not_starts_with  not_ends_with
//	exists  not_exists        no value follows
//	is_true  is_false         no value follows
//
// Conditions combine with and and or; and binds tighter than or, and
// parentheses group, at most 64 deep. Segment's own spellings, the ones its
// action destinations write for their subscriptions, are accepted too, so
// such a subscription can be pasted unchanged: contains(field, "x"),
// !contains(field, "x"), match(field, "x*") (starts_with), match(field, "*x")
// (ends_with), match(field, "*x*") (contains), their ! negations,
// field = null (not_exists) and field != null (exists). match patterns may
// carry * only at their start or end. [Trigger.String] always prints the
// operator spelling.
//
// # Semantics
//
// Evaluation follows Segment's subscription validator, which compares by
// type: a quoted value is a string, an unquoted number a number, true and
// false booleans.
//
//   - = with a string is true for a string field with exactly that text;
//     with a number, for a number field with the same numeric value (so
//     properties.total = 100 and = 100.0 match 100, and neither matches
//     "100"; properties.total = "100" matches "100" only); with true or
//     false, for that boolean only, not the strings "true" and "false".
//     Null, objects, arrays and missing fields equal nothing.
//   - != with a string or a boolean is the negation of =, so, as in
//     Segment, a missing field is != every such value; write traits.plan
//     exists and traits.plan != "free" to require the field. != with a
//     number is Segment's number-not-equals: the field must be a number
//     with another value, so traits.age != 30 is false when age is missing,
//     null or a string.
//   - The top-level fields (type, event, name, userId, anonymousId,
//     messageId, topic) are strings, and Segment's parser reads a number
//     after them as its text: userId = 123 is userId = "123".
//   - <, <=, >, >= compare numbers: the field must be a JSON number, not a
//     string holding one ("12.5"); anything else, including a missing field,
//     makes the condition false.
//   - contains is true for a string field containing the value's text (a
//     number's text is its shortest form, so contains 1.50 looks for
//     "1.5"), and, an s3relay addition, for an array field with an element
//     that = the value. not_contains is true for a string field without the
//     text and for an array field with no such element. starts_with,
//     ends_with and their negations apply to string fields only. As in
//     Segment, every one of these is false when the field is missing or of
//     another type, so not_contains is not the negation of contains.
//   - exists is true when the field is present and not null; not_exists is
//     its negation.
//   - is_true is the same as = true: the field is the boolean true;
//     is_false likewise with false.
//
// Where Segment's parser has bugs, Parse reports an error instead: type =
// with nothing after it is an error, not type = "eos"; match() patterns
// with * inside are refused rather than cut.
//
// Until s3relay compared by type, a string value also matched a number or a
// boolean with the same text, and <, <=, >, >= read numeric strings.
// [Trigger.Quoted] lists the conditions of a stored trigger whose meaning
// changed most, those comparing a path with a quoted number or boolean.
//
// Numbers in events may be float64 or json.Number (and Go integer types);
// all compare as float64. Event objects must be map[string]any and arrays
// []any, as encoding/json decodes them. Simple comparisons do not allocate.
//
// # Dashboard support
//
// [Trigger.Types] tells which event types a trigger can accept, so files can
// be split by type. [Trigger.Conditions] and [Build] convert between trigger
// text and the rows of a condition builder; a trigger that is not a flat list
// of conditions joined by one of and or or is edited as raw text. Builder
// values keep their type: 100 is a number, true a boolean, "100" a string.
package match
