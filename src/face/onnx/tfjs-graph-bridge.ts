import { readFileSync } from 'node:fs';
import type { GraphModel } from '@tensorflow/tfjs-converter';
import type * as tfTypes from '@tensorflow/tfjs-core';
import { NativeNetwork, nativeRuntime, readGraphModel } from './session.js';

/**
 * Runs a tfjs GraphModel that a library loaded and calls (Human's BlazeFace and face mesh) on onnxruntime
 * instead: its `execute` is replaced by one that converts the input tensor, runs the network converted from
 * the same model file synchronously (Human calls `execute` synchronously) and hands back tfjs tensors in the
 * model's output order. Everything around the network (Human's cropping, anchors, non-maximum suppression,
 * mesh geometry) stays as it is, so detections differ only by the networks' floating-point rounding.
 *
 * Human keeps its models in module scope, shared by every instance of the thread, so the bridge is switched
 * per call by `useNative`: an engine on tfjs-wasm in the same thread still gets tfjs-wasm.
 */
export async function bridgeToNative(tf: typeof tfTypes, model: GraphModel, jsonPath: string, threads: number, useNative: () => boolean): Promise<void> {
  if (bridged.has(model)) return;
  const ort = nativeRuntime();
  if (!ort) throw new Error('bridgeToNative: onnxruntime-node is not available');
  const network = await NativeNetwork.load(ort, readGraphModel(jsonPath), threads);
  if (bridged.has(model)) {
    network.dispose();
    return;
  }
  bridged.add(model);
  // A model with a signature names its outputs by the signature's keys; the ONNX graph, by tensor.
  const signature = (JSON.parse(readFileSync(jsonPath, 'utf8')) as { signature?: { outputs?: Record<string, { name: string }> } }).signature?.outputs ?? {};
  const order = model.outputNodes.map((name) => {
    const i = network.outputNames.indexOf((signature[name]?.name ?? name).replace(/:0$/, ''));
    if (i < 0) throw new Error(`bridgeToNative: ${jsonPath} has no output ${name} after conversion`);
    return i;
  });
  const wasm = model.execute.bind(model);
  model.execute = ((inputs, outputs) => {
    if (!useNative() || outputs !== undefined || !(inputs instanceof tf.Tensor)) return wasm(inputs, outputs);
    const results = network.run(inputs.dataSync() as Float32Array, inputs.shape);
    const tensors = order.map((i) => tf.tensor(results[i]!.data, [...results[i]!.dims]));
    return tensors.length === 1 ? tensors[0]! : tensors;
  }) as GraphModel['execute'];
}

const bridged = new WeakSet<GraphModel>();
