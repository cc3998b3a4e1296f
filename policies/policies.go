// Package policies holds Tongxing's gateway policy in Rego, its unit tests,
// and the example data of four departments (public security 公安, human
// resources and social security 人社, tax 税务, market regulation 市场监管):
// the resource catalogue, the purpose catalogue tied to the departments'
// power lists (权力清单), sharing agreements and the negative list
// (负面清单). README.md describes the data and the decision input.
//
// The files are embedded so that a development start can build a first
// bundle; a deployment edits a copy of this directory and builds it with
// `tongxing policy build`.
package policies

import "embed"

// FS holds gateway.rego, gateway_test.rego and data.json.
//
//go:embed *.rego data.json
var FS embed.FS
