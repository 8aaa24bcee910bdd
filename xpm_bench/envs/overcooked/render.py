"""Drawing one copy of an Overcooked env: an ASCII grid and an RGB image (Pillow)."""

from __future__ import annotations

from typing import Any

import numpy as np

from xpm_bench.envs.overcooked.layout import (
    COUNTER,
    DISH,
    DISH_DISPENSER,
    FLOOR,
    ONION,
    ONION_DISPENSER,
    POT,
    SERVE,
    SOUP,
    STARTED,
    TOMATO,
    TOMATO_DISPENSER,
    soup_counts,
)

ARROWS = "^v><"  # north, south, east, west
TERRAIN_LETTERS = {
    FLOOR: " ",
    COUNTER: "X",
    POT: "P",
    ONION_DISPENSER: "O",
    TOMATO_DISPENSER: "T",
    DISH_DISPENSER: "D",
    SERVE: "S",
}


def _snapshot(env: Any, index: int) -> dict[str, Any]:
    return {
        "pos": env.pos[index].tolist(),
        "ori": env.ori[index].tolist(),
        "held": env.held[index].tolist(),
        "held_timer": env.held_timer[index].tolist(),
        "code": env.code[index].tolist(),
        "timer": env.timer[index].tolist(),
        "t": int(env.t[index]),
    }


def object_label(code: int, timer: int) -> str:
    """Short text for an object: ``o`` onion, ``t`` tomato, ``d`` dish; soups as
    ``{`` + one letter per ingredient + the remaining cook time or ``!`` when ready."""
    if code == 0:
        return ""
    if code < SOUP:
        return {ONION: "o", TOMATO: "t", DISH: "d"}[code]
    n_on, n_tom = soup_counts(code)
    label = "{" + "o" * n_on + "t" * n_tom
    if code & STARTED:
        label += "!" if timer <= 0 else str(timer)
    return label


def ansi(env: Any, index: int = 0) -> str:
    """Text grid: terrain letters with what lies on them, players as ``<arrow><seat><held>``."""
    layout, s = env.layout, _snapshot(env, index)
    players = {cell: p for p, cell in enumerate(s["pos"])}
    width = 7
    lines = []
    for y in range(layout.height):
        row = []
        for x in range(layout.width):
            cell = layout.cell(x, y)
            if cell in players:
                p = players[cell]
                text = ARROWS[s["ori"][p]] + str(p) + object_label(s["held"][p], s["held_timer"][p])
            else:
                terrain = TERRAIN_LETTERS[int(layout.terrain[cell])]
                text = terrain + object_label(s["code"][cell], s["timer"][cell])
            row.append(text.ljust(width))
        lines.append("".join(row).rstrip())
    lines.append(f"t={s['t']}/{env.horizon}  layout={layout.name}  rule={env.rule_name}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------ RGB
COLOURS = {
    FLOOR: (236, 229, 214),
    COUNTER: (176, 132, 86),
    POT: (120, 120, 128),
    ONION_DISPENSER: (176, 132, 86),
    TOMATO_DISPENSER: (176, 132, 86),
    DISH_DISPENSER: (176, 132, 86),
    SERVE: (120, 190, 120),
}
ITEM_COLOURS = {ONION: (240, 200, 60), TOMATO: (220, 50, 40), DISH: (250, 250, 250)}
SEAT_COLOURS = ((40, 90, 220), (230, 110, 30))
OUTLINE = (40, 40, 40)


def rgb(env: Any, index: int = 0, cell_px: int = 48) -> np.ndarray:
    """``[H * cell_px, W * cell_px, 3]`` uint8 image: terrain, items, pots (ingredients and
    remaining cook time, a green ring when ready), chefs (seat colour, facing wedge, held item)."""
    from PIL import Image, ImageDraw

    layout, s = env.layout, _snapshot(env, index)
    img = Image.new("RGB", (layout.width * cell_px, layout.height * cell_px), COLOURS[FLOOR])
    draw = ImageDraw.Draw(img)
    for cell in range(layout.num_cells):
        x, y = layout.xy(cell)
        box = (x * cell_px, y * cell_px, (x + 1) * cell_px - 1, (y + 1) * cell_px - 1)
        terrain = int(layout.terrain[cell])
        _draw_terrain(draw, box, terrain, cell_px)
        _draw_object(draw, box, s["code"][cell], s["timer"][cell], cell_px, in_pot=terrain == POT)
    for p, cell in enumerate(s["pos"]):
        x, y = layout.xy(cell)
        box = (x * cell_px, y * cell_px, (x + 1) * cell_px - 1, (y + 1) * cell_px - 1)
        _draw_chef(draw, box, p, s["ori"][p], s["held"][p], s["held_timer"][p], cell_px)
    return np.asarray(img, dtype=np.uint8).copy()


def _draw_terrain(draw: Any, box: tuple, terrain: int, px: int) -> None:
    x0, y0, x1, y1 = box
    if terrain == FLOOR:
        draw.rectangle(box, outline=(215, 205, 188))
        return
    draw.rectangle(box, fill=COLOURS[terrain], outline=OUTLINE)
    pad = px // 6
    inner = (x0 + pad, y0 + pad, x1 - pad, y1 - pad)
    if terrain == POT:
        draw.ellipse(inner, fill=(70, 70, 76), outline=OUTLINE)
    elif terrain in (ONION_DISPENSER, TOMATO_DISPENSER):
        colour = ITEM_COLOURS[ONION if terrain == ONION_DISPENSER else TOMATO]
        draw.rectangle(inner, fill=(120, 90, 60))
        for i in range(3):
            cx = x0 + px // 4 + i * px // 4
            r = px // 9
            draw.ellipse(
                (cx - r, y0 + px // 2 - r, cx + r, y0 + px // 2 + r), fill=colour, outline=OUTLINE
            )
    elif terrain == DISH_DISPENSER:
        draw.rectangle(inner, fill=(120, 90, 60))
        for i in range(3):
            off = i * px // 10
            draw.ellipse(
                (
                    x0 + pad + off,
                    y0 + pad + off,
                    x1 - pad - 2 * px // 10 + off,
                    y1 - pad - 2 * px // 10 + off,
                ),
                fill=ITEM_COLOURS[DISH],
                outline=OUTLINE,
            )
    elif terrain == SERVE:
        draw.rectangle(inner, outline=(30, 110, 30), width=max(1, px // 16))
        draw.text((x0 + px // 2 - 3, y0 + px // 2 - 6), "S", fill=(30, 90, 30))


def _draw_item(draw: Any, centre: tuple[int, int], code: int, timer: int, radius: int) -> None:
    cx, cy = centre
    box = (cx - radius, cy - radius, cx + radius, cy + radius)
    if code < SOUP:
        draw.ellipse(box, fill=ITEM_COLOURS[code], outline=OUTLINE)
        return
    # a soup outside a pot: a dish with its ingredients
    draw.ellipse(box, fill=ITEM_COLOURS[DISH], outline=OUTLINE)
    _draw_ingredients(draw, centre, code, max(2, radius // 3))


def _draw_ingredients(draw: Any, centre: tuple[int, int], code: int, r: int) -> None:
    n_on, n_tom = soup_counts(code)
    items = [ONION] * n_on + [TOMATO] * n_tom
    cx, cy = centre
    for i, item in enumerate(items):
        dx = (i - (len(items) - 1) / 2) * 2.2 * r
        draw.ellipse(
            (cx + dx - r, cy - r, cx + dx + r, cy + r), fill=ITEM_COLOURS[item], outline=OUTLINE
        )


def _draw_object(draw: Any, box: tuple, code: int, timer: int, px: int, in_pot: bool) -> None:
    if code == 0:
        return
    x0, y0, x1, y1 = box
    centre = ((x0 + x1) // 2, (y0 + y1) // 2)
    if not in_pot:
        _draw_item(draw, centre, code, timer, px // 4)
        return
    _draw_ingredients(draw, centre, code, max(2, px // 10))
    if code & STARTED:
        if timer <= 0:
            draw.ellipse(
                (x0 + 3, y0 + 3, x1 - 3, y1 - 3), outline=(40, 200, 60), width=max(2, px // 12)
            )
        else:
            draw.text((x0 + 3, y0 + 1), str(timer), fill=(255, 255, 255))


def _draw_chef(
    draw: Any, box: tuple, seat: int, ori: int, held: int, held_timer: int, px: int
) -> None:
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    r = px // 3
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=SEAT_COLOURS[seat], outline=OUTLINE)
    dx, dy = ((0, -1), (0, 1), (1, 0), (-1, 0))[ori]
    tip = (cx + dx * (r + px // 8), cy + dy * (r + px // 8))
    side = (-dy * r // 2, dx * r // 2)
    base = (cx + dx * r // 2, cy + dy * r // 2)
    wedge = [tip, (base[0] + side[0], base[1] + side[1]), (base[0] - side[0], base[1] - side[1])]
    draw.polygon(wedge, fill=(30, 30, 30))
    draw.text((cx - 3, cy - 6), str(seat), fill=(255, 255, 255))
    if held:
        hx, hy = cx + dx * r // 2 + dy * r // 2, cy + dy * r // 2 + dx * r // 2
        _draw_item(draw, (hx, hy), held, held_timer, px // 7)
