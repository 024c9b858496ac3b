"""The truncated-SVD baselines ``svd`` and ``svd-w`` (docs/design.md §6): the linear
factorisation a reviewer asks about first, scored like every latent model.

No training and no recommender head: the user factors are the latents MCC scores, and a
(user, item) pair is scored by the SVD's reconstruction of the exposure, ``(U S)_u . V_i``, so
the ranking metrics of these models are those of that reconstruction (a sanity figure, like the
decoder ranking of the latent-only vae and ivae).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from ividr.hyperparams import SVD_INPUTS, SVDParams
from ividr.models.base import BaseRecommender
from ividr.models.svd.net import SVDNet


def svd_factors(
    dataset, n_components: int, *, inputs: str = "exposure", seed: int = 0
) -> tuple[np.ndarray, np.ndarray, float]:
    """Truncated SVD (scikit-learn's ``TruncatedSVD``, randomized) of the exposure matrix.

    Parameters
    ----------
    dataset : RecDataset
    n_components : int
        Components kept (the latent dimension), fewer than the matrix's columns.
    inputs : {"exposure", "exposure_w"}, default "exposure"
        The matrix: the binary exposures A (n_users, n_items), or [A, one-hot W]
        (n_users, n_items + sum(proxy_levels)).
    seed : int, default 0
        ``random_state`` of the randomized SVD.

    Returns
    -------
    user : ndarray of shape (n_users, n_components)
        ``U S``, the users' coordinates (``TruncatedSVD.transform``).
    item : ndarray of shape (n_items, n_components)
        The item columns of ``V`` (the W columns of "exposure_w" are left out).
    explained : float
        Share of the matrix's variance the components explain.
    """
    from sklearn.decomposition import TruncatedSVD

    matrix = dataset.exposure_csr()
    if inputs == "exposure_w":
        matrix = sparse.hstack([matrix, sparse.csr_matrix(dataset.proxy_onehot())], format="csr")
    if n_components >= matrix.shape[1]:
        raise ValueError(
            f"The SVD of a matrix with {matrix.shape[1]} columns keeps fewer than "
            f"{matrix.shape[1]} components; latent_dim is {n_components}."
        )
    svd = TruncatedSVD(n_components=n_components, random_state=seed)
    user = svd.fit_transform(matrix.astype(np.float64))
    item = svd.components_[:, : dataset.n_items].T
    return user, np.ascontiguousarray(item), float(svd.explained_variance_ratio_.sum())


class SVD(BaseRecommender):
    """Truncated SVD of the exposure matrix, or of [exposures, one-hot W] (``inputs``).

    ``user_latents_`` holds ``U S`` (n_users, latent_dim); ``score`` is the reconstruction
    ``(U S)_u . V_i``. One history row (stage "svd") records the explained variance."""

    Params = SVDParams
    has_latents = True

    def _fit(self, dataset, val, progress, callback) -> None:
        from ividr.training.stages import resolve_latent_dim

        dim = resolve_latent_dim(self.latent_dim, dataset)
        user, item, explained = svd_factors(dataset, dim, inputs=self.inputs, seed=self.seed)
        spec = {"n_users": self.n_users_, "n_items": self.n_items_, "dim": dim}
        net = SVDNet(**spec)
        net.set_factors(user, item)
        self._add_net("factors", net.to(self.device_), spec)
        self.user_latents_ = user
        self.latent_std_ = None
        self.prior_mean_ = None
        self.history_.append({"stage": "svd", "epoch": 0, "explained_variance": explained})
        if progress is not None:
            progress(f"svd ({self.inputs}): {dim} components, explained variance {explained:.4f}")

    def _score(self, users, items):
        return self.nets_["factors"](users, items)


__all__ = ["SVD", "SVD_INPUTS", "svd_factors"]
