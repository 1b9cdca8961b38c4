// Torch tests run a real PyTorch worker. They never skip: without torch they fail and name the
// package to install (issue 16).
import { findTorch, TORCH_INSTALL_HINT, type TorchProbe } from '../../src/train/python.js'

export async function requireTorch(): Promise<TorchProbe> {
  const search = await findTorch()
  if (!search.found)
    throw new Error(
      `these tests need PyTorch (${search.tried.map((t) => t.reason).join('; ')}): ${TORCH_INSTALL_HINT}`,
    )
  return search.found
}
