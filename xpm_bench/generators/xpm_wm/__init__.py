"""XPM-WM: cross-play minimisation inside a learned world model (arXiv 2506.07450).

The method (REFERENCES.md section 1; where the paper is silent to us the choice is a field of
:class:`~xpm_bench.generators.xpm_wm.config.WMConfig`, listed in ``docs/methods.md``):

**Phase 1.** A world model W (``xpm_bench.wm``: DreamerV3-style RSSM, latent split into
``joint_latents`` shared and ``player_latents`` per-player categoricals, heads for the
observation, each player's event vector and continuation) and agent 0 train together from
real self-play. Real SP episodes of agent 0 go into the replay buffer B_SP, the model trains
on replay, and agent 0 learns in imagination, on real data or both (``phase1_mode``). The
phase ends when agent 0's real SP return reaches ``sp_target`` (or at
``phase1_max_env_steps``).

**Phase 2, for m = 1..M-1, earlier agents frozen.** Each iteration:

1. Fine-tune W on sequences from B_SP and B_XP with a KL penalty towards the previous model
   W⁻ (a frozen copy of W taken when member m starts, i.e. the model member m-1 finished
   with), so that the latents the frozen agents were trained on stay valid::

       L_ft(θ) = E_{x ~ B_SP ∪ B_XP} [ L_W(θ; x) ]
                 + kl_gamma · E_{x, t} [ KL( q_θ⁻(z_t | h⁻_t, o_t) ‖ q_θ(z_t | h_t, o_t) ) ]

   ``x`` is a replayed real sequence of observations, joint actions, events and
   terminations; ``L_W`` is the model's own loss (prediction losses of observation, events
   and continuation, plus DreamerV3's balanced dynamics/representation KL); ``h_t``/``h⁻_t``
   are the two models' deterministic states when each filters the same sequence ``x``; the
   KL is between their posterior distributions over every categorical latent, summed over
   latents and averaged over batch and time, with the frozen posterior first (mass-covering:
   wherever the old model put a latent, the new one must still put mass). The posterior is
   what a frozen member's actor reads (its features), so this pins the representation
   itself, not only the predictions.
   ``kl_gamma = 0`` removes the regulariser (an ablation).
2. Imagine self-play of pi_m for ``horizon`` steps from latent start states: posterior
   states of real replayed sequences, and (``xp_state_expansion``) latent states visited in
   the imagined cross-play of step 3 (:class:`~xpm_bench.generators.xpm_wm.states.StateBank`).
3. Imagine cross-play of pi_m with each frozen pi_j, pi_m in both seats.
4. Update pi_m (PPO in latent space, one centralised critic per pair of seated agents) on
   the objective SP - lambda_xp · max_j XP_j over imagined returns (a softmax over j with
   ``partner_selection=softmax``).
5. Collect real SP episodes of pi_m into B_SP (the only real steps of Phase 2 by default;
   ``real_xp_fraction`` > 0 adds real XP episodes to B_XP, ledgered as ``xp``).

Members are world-model-feature actors; the final model is stored once in the population's
``shared`` section. Each member's ``info`` holds its real SP return measured through the
final model and through the model it was trained with: the drift the KL penalty limits.

``xpm-sim`` (:mod:`xpm_bench.generators.xpm_sim`) is the same objective with imagination
replaced by the real simulator.
"""
