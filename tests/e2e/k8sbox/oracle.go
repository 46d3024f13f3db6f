package main

// The oracle: upstream's answer for the differential tests of kubectl-dra (tests/e2e/oracle.py).
//
//	k8sbox oracle alloc   < cases.jsonl > results.jsonl
//	k8sbox oracle cel     < cases.jsonl > results.jsonl
//
// Both read one JSON object per line (a case) and write one JSON object per line (its result, in
// the same order, with the case's "id"), so one process answers thousands of cases. The allocator
// comes from k8s.io/dynamic-resource-allocation/structured (picked by feature set exactly as the
// 1.36 scheduler plugin picks it), the CEL environment from k8s.io/dynamic-resource-allocation/cel.
// A case that cannot be read gives {"id":..., "caseError": "..."} and the loop goes on.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
	resourcev1 "k8s.io/api/resource/v1"
	resourcev1beta2 "k8s.io/api/resource/v1beta2"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
	_ "k8s.io/kubernetes/pkg/apis/core/install"
	_ "k8s.io/kubernetes/pkg/apis/resource/install"
)

func runOracle(args []string) int {
	if len(args) < 1 {
		fmt.Fprintln(os.Stderr, "usage: k8sbox oracle alloc|cel < cases.jsonl")
		return 2
	}
	var handle func(json.RawMessage) any
	switch args[0] {
	case "alloc":
		handle = allocCase
	case "cel":
		handle = celCase
	default:
		fmt.Fprintf(os.Stderr, "k8sbox oracle: unknown mode %q (alloc|cel)\n", args[0])
		return 2
	}
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	defer out.Flush()
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	for {
		line, err := in.ReadBytes('\n')
		if len(strings.TrimSpace(string(line))) > 0 {
			if encErr := enc.Encode(safely(handle, line)); encErr != nil {
				fmt.Fprintf(os.Stderr, "k8sbox oracle: %v\n", encErr)
				return 1
			}
			// answer each case as soon as it is done: a caller may stream
			if flushErr := out.Flush(); flushErr != nil {
				return 1
			}
		}
		if err == io.EOF {
			return 0
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "k8sbox oracle: read: %v\n", err)
			return 1
		}
	}
}

// safely runs one case; a panic in upstream code becomes that case's "panic" field.
func safely(handle func(json.RawMessage) any, line []byte) (result any) {
	defer func() {
		if r := recover(); r != nil {
			var head struct {
				ID any `json:"id"`
			}
			_ = json.Unmarshal(line, &head)
			result = map[string]any{"id": head.ID, "panic": fmt.Sprint(r)}
		}
	}()
	return handle(json.RawMessage(line))
}

// ------------------------------------------------------------------ objects

// decodeObject turns one Kubernetes object (any served version of resource.k8s.io, core/v1) into
// the version the scheduler works with, defaulted as the API server stores it: decoding applies
// the defaults of the version it was written in, then the object goes through the internal type.
func decodeObject(raw json.RawMessage) (runtime.Object, error) {
	obj, _, err := decodeBoth(raw)
	return obj, err
}

// decodeBoth: the object in the scheduler's version and as the API server's internal type.
func decodeBoth(raw json.RawMessage) (runtime.Object, runtime.Object, error) {
	internal, _, err := legacyscheme.Codecs.UniversalDecoder().Decode(raw, nil, nil)
	if err != nil {
		return nil, nil, err
	}
	var target schema.GroupVersion
	kinds, _, err := legacyscheme.Scheme.ObjectKinds(internal)
	if err != nil {
		return nil, nil, err
	}
	switch kinds[0].Group {
	case corev1.GroupName:
		target = corev1.SchemeGroupVersion
	case resourcev1.GroupName:
		target = resourcev1.SchemeGroupVersion
		if kinds[0].Kind == "DeviceTaintRule" {
			target = resourcev1beta2.SchemeGroupVersion
		}
	default:
		return nil, nil, fmt.Errorf("unsupported group %q", kinds[0].Group)
	}
	out, err := legacyscheme.Scheme.ConvertToVersion(internal.DeepCopyObject(), target)
	return out, internal, err
}
