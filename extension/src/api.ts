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

export interface ICachedModel {
  repo_id: string;
  source: 'cache';
  architecture: string | null;
  model_type: string | null;
  size_on_disk: number;
  nb_files: number;
  revisions: IRevision[];
  links_outside_cache: boolean;
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
