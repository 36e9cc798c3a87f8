// REST calls to the workbench server extension (workbench/lab/handlers.py).
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export interface IRevision {
  commit_hash: string;
  refs: string[];
  size_on_disk: number;
  nb_files: number;
  last_modified: number;
  architecture: string | null;
  model_type: string | null;
}

/** A GGUF file in a cached repo, as its header says (workbench/lab/cache.py gguf_json). */
export interface IGGUFFile {
  file: string;
  size_on_disk: number;
  architecture: string | null; // llama.cpp's name: "llama", "qwen2", ...
  name: string | null;
  quantization: string | null; // the main tensor type: "Q4_K", "F16", ...
  parameters: number | null;
  layers: number | null;
  context_length: number | null;
  error: string | null;
}

export interface ICachedModel {
  repo_id: string;
  source: 'cache';
  architecture: string | null;
  model_type: string | null;
  size_on_disk: number;
  nb_files: number;
  revisions: IRevision[];
  links_outside_cache: boolean;
  gguf: IGGUFFile[];
}

export interface IZooModel {
  name: string;
  source: 'zoo';
  path: string;
  architecture: string | null;
  model_type: string | null;
  size_on_disk: number;
}

export interface IModelsReply {
  cache_dir: string;
  models: ICachedModel[];
  zoo: IZooModel[];
  warnings: string[];
}

export interface ITutorial {
  name: string;
  title: string;
  description: string | null; // the notebook's metadata.workbench.description
  minutes: number | null; // metadata.workbench.minutes
  number: number | null; // from a "01_" file name prefix
  path: string | null; // relative to the server root; null: shipped, not yet copied there
  source: 'root' | 'package';
}

export interface ITutorialsReply {
  root_dir: string;
  tutorials: ITutorial[];
}

/** Call `/workbench/api/<endPoint>`; a 4xx/5xx answer throws with the server's message. */
export async function requestAPI<T>(endPoint: string, init: RequestInit = {}): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'workbench', 'api', endPoint);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }
  const text = await response.text();
  let data: any = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { message: text };
    }
  }
  if (!response.ok) {
    throw new ServerConnection.ResponseError(response, data?.message ?? response.statusText);
  }
  return data as T;
}

/** 1234567 -> "1.2 MB" (powers of 1000, as huggingface_hub prints sizes). */
export function humanBytes(count: number | null | undefined): string {
  if (count === null || count === undefined) {
    return '-';
  }
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = count;
  for (const unit of units) {
    if (Math.abs(value) < 1000 || unit === 'TB') {
      return unit === 'B' ? `${value.toFixed(0)} B` : `${value.toFixed(1)} ${unit}`;
    }
    value /= 1000;
  }
  return `${value.toFixed(1)} TB`;
}

/** 134515008 -> "134.5M" (as the ModelPicker prints parameter counts). */
export function humanCount(count: number | null | undefined): string {
  if (count === null || count === undefined) {
    return '-';
  }
  for (const [unit, size] of [['B', 1e9], ['M', 1e6], ['K', 1e3]] as [string, number][]) {
    if (count >= size) {
      return `${(count / size).toFixed(1)}${unit}`;
    }
  }
  return String(count);
}
