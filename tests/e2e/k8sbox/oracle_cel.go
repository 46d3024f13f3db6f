package main

// `k8sbox oracle cel`: a DRA device selector compiled and evaluated by
// k8s.io/dynamic-resource-allocation/cel exactly as the scheduler's CEL cache does
// (StoredExpressions environment, no cost estimation, runtime cost limit
// CELSelectorExpressionMaxCost), then evaluated for each device with DeviceMatches.
//
// Case (one JSON line):
//
//	{"id": any, "expression": "...",
//	 "features": {"consumableCapacity": true, "listTypeAttributes": false},   // default: 1.36 gates
//	 "costLimit": 1000000,                                                    // optional
//	 "devices": [{"driver": "d", "allowMultipleAllocations": false,
//	              "attributes": {"name": {"int": 1}}, "capacity": {"name": {"value": "1Gi"}}}]}
//
// Result:
//
//	{"id": any, "compileError": "..."|absent, "errorType": "...", "outputType": "bool",
//	 "maxCost": N (the compile-time estimate, 18446744073709551615 when unbounded; absent when the
//	 estimation failed), "newExpressionsError": "..." (API validation of a new object),
//	 "validation": "..." (what validateCELSelector in pkg/apis/resource/validation says of a new
//	 selector: the compile error, or "too complex, exceeds cost limit"; absent when valid),
//	 "results": [{"value": true|false} | {"error": "..."}, with "cost": actual cost]}

import (
	"context"
	"encoding/json"

	resourcev1 "k8s.io/api/resource/v1"
	"k8s.io/apiserver/pkg/cel/environment"
	"k8s.io/dynamic-resource-allocation/cel"
	"k8s.io/utils/ptr"
)

type celFeatures struct {
	ConsumableCapacity *bool `json:"consumableCapacity"`
	ListTypeAttributes *bool `json:"listTypeAttributes"`
}

type celDevice struct {
	Driver                   string                                                  `json:"driver"`
	AllowMultipleAllocations *bool                                                   `json:"allowMultipleAllocations"`
	Attributes               map[resourcev1.QualifiedName]resourcev1.DeviceAttribute `json:"attributes"`
	Capacity                 map[resourcev1.QualifiedName]resourcev1.DeviceCapacity  `json:"capacity"`
}

type celInput struct {
	ID         any         `json:"id"`
	Expression string      `json:"expression"`
	Features   celFeatures `json:"features"`
	CostLimit  *uint64     `json:"costLimit"`
	Devices    []celDevice `json:"devices"`
}

type celResult struct {
	Value *bool   `json:"value,omitempty"`
	Error string  `json:"error,omitempty"`
	Cost  *uint64 `json:"cost,omitempty"`
}

type celOutput struct {
	ID                  any         `json:"id"`
	CaseError           string      `json:"caseError,omitempty"`
	CompileError        string      `json:"compileError,omitempty"`
	ErrorType           string      `json:"errorType,omitempty"`
	OutputType          string      `json:"outputType,omitempty"`
	MaxCost             *uint64     `json:"maxCost,omitempty"`
	NewExpressionsError string      `json:"newExpressionsError,omitempty"`
	Validation          string      `json:"validation,omitempty"`
	Results             []celResult `json:"results"`
}

func celCase(line json.RawMessage) any {
	var in celInput
	if err := json.Unmarshal(line, &in); err != nil {
		return celOutput{CaseError: "read case: " + err.Error()}
	}
	out := celOutput{ID: in.ID, Results: []celResult{}}
	gs, err := gatesFor(nil)
	if err != nil {
		out.CaseError = err.Error()
		return out
	}
	features := cel.Features{
		EnableConsumableCapacity: ptr.Deref(in.Features.ConsumableCapacity, gs.fts.EnableDRAConsumableCapacity),
		EnableListTypeAttributes: ptr.Deref(in.Features.ListTypeAttributes, gs.fts.EnableDRAListTypeAttributes),
	}
	compiler := cel.GetCompiler(features)
	// what the scheduler's cache compiles (cel.Cache.GetOrCompile)
	expr := compiler.CompileCELExpression(in.Expression, cel.Options{DisableCostEstimation: true, CostLimit: in.CostLimit})
	if expr.Error != nil {
		out.CompileError = expr.Error.Detail
		out.ErrorType = string(expr.Error.Type)
	} else if expr.OutputType != nil {
		out.OutputType = expr.OutputType.String()
	}
	// the compile-time estimate (API validation computes it)
	if est := compiler.CompileCELExpression(in.Expression, cel.Options{}); est.Error == nil {
		maxCost := est.MaxCost
		out.MaxCost = &maxCost
	}
	newEnv := environment.NewExpressions
	if n := compiler.CompileCELExpression(in.Expression, cel.Options{EnvType: &newEnv, DisableCostEstimation: true}); n.Error != nil {
		out.NewExpressionsError = n.Error.Detail
	}
	// validateCELSelector for a new selector: the NewExpressions environment, with the estimate
	if len(in.Expression) > resourcev1.CELSelectorExpressionMaxLength {
		out.Validation = "too long"
	} else if v := compiler.CompileCELExpression(in.Expression, cel.Options{EnvType: &newEnv}); v.Error != nil {
		out.Validation = v.Error.Detail
	} else if v.MaxCost > resourcev1.CELSelectorExpressionMaxCost {
		out.Validation = "too complex, exceeds cost limit"
	}
	if expr.Error != nil {
		return out
	}
	for _, d := range in.Devices {
		matches, details, err := expr.DeviceMatches(context.Background(), cel.Device{
			Driver:                   d.Driver,
			AllowMultipleAllocations: d.AllowMultipleAllocations,
			Attributes:               d.Attributes,
			Capacity:                 d.Capacity,
		})
		r := celResult{}
		if details != nil {
			r.Cost = details.ActualCost()
		}
		if err != nil {
			r.Error = err.Error()
		} else {
			r.Value = &matches
		}
		out.Results = append(out.Results, r)
	}
	return out
}
