"""The edits people make to an image before re-sharing it, as named pure functions for the robustness
benchmark (bench/robustness.py).

Each transform takes a PIL image (RGB) and returns a new PIL image, or the bytes of an encoded file for
encodings (JPEG, WebP): what the re-shared copy's file holds. Each is registered with the group whose
recall target it falls under (issue 5): "photometric/encoding" (>= 99%), "geometric/overlay" (>= 95%),
"beyond target" (reported only). Chains apply several steps; an encoding in the middle of a chain is
decoded again, as the next app in the chain would.

Transforms must never change their input, use randomness that is not seeded, reach the network, or use
fonts other than Pillow's own (`ImageFont.load_default`): the same input gives the same bytes anywhere.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

PHOTOMETRIC = "photometric/encoding"
GEOMETRIC = "geometric/overlay"
BEYOND = "beyond target"
GROUPS = (PHOTOMETRIC, GEOMETRIC, BEYOND)
TARGETS: dict[str, float | None] = {PHOTOMETRIC: 0.99, GEOMETRIC: 0.95, BEYOND: None}

SEED = 20240605
Output = Image.Image | bytes
Step = Callable[[Image.Image], Output]


@dataclass(frozen=True)
class Transform:
    name: str
    group: str
    apply: Step
    description: str

    def file_suffix(self, output: Output) -> str:
        """The extension for this transform's output: encodings say their own, images are PNG."""
        if isinstance(output, bytes):
            return ".webp" if output[:4] == b"RIFF" else ".jpg"
        return ".png"


def as_image(output: Output) -> Image.Image:
    """A step's output as an image (decoding an encoding, as the next app would)."""
    if isinstance(output, bytes):
        with Image.open(io.BytesIO(output)) as im:
            return im.convert("RGB")
    return output


def chain(*steps: Step) -> Step:
    def run(im: Image.Image) -> Output:
        out: Output = im
        for step in steps:
            out = step(as_image(out))
        return out

    return run


# --- encodings ------------------------------------------------------------------------------------


def jpeg(quality: int) -> Step:
    def encode(im: Image.Image) -> bytes:
        buf = io.BytesIO()
        im.convert("RGB").save(buf, "JPEG", quality=quality)
        return buf.getvalue()

    return encode


def webp(quality: int) -> Step:
    def encode(im: Image.Image) -> bytes:
        buf = io.BytesIO()
        im.convert("RGB").save(buf, "WEBP", quality=quality, method=4)
        return buf.getvalue()

    return encode


# --- resizing and colour ----------------------------------------------------------------------------


def scale(factor: float) -> Step:
    def run(im: Image.Image) -> Image.Image:
        w, h = im.size
        return im.resize((max(1, round(w * factor)), max(1, round(h * factor))), Image.Resampling.BICUBIC)

    return run


def thumbnail(longest: int) -> Step:
    def run(im: Image.Image) -> Image.Image:
        w, h = im.size
        k = longest / max(w, h)
        return im.resize((max(1, round(w * k)), max(1, round(h * k))), Image.Resampling.BICUBIC)

    return run


def sepia(im: Image.Image) -> Image.Image:
    # The usual sepia tone matrix (each output channel a mix of R, G, B).
    matrix = (0.393, 0.769, 0.189, 0, 0.349, 0.686, 0.168, 0, 0.272, 0.534, 0.131, 0)
    return im.convert("RGB", matrix)


def saturation(im: Image.Image) -> Image.Image:
    return ImageEnhance.Color(im).enhance(1.7)


def brightness_contrast(im: Image.Image) -> Image.Image:
    return ImageEnhance.Contrast(ImageEnhance.Brightness(im).enhance(1.15)).enhance(1.25)


def hue_shift(im: Image.Image) -> Image.Image:
    hsv = np.asarray(im.convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(np.int16) + 25) % 256  # about 35 degrees round the colour wheel
    return Image.fromarray(hsv, "HSV").convert("RGB")


def grayscale(im: Image.Image) -> Image.Image:
    return im.convert("L")


def blur(im: Image.Image) -> Image.Image:
    # Relative to the image, so that a thumbnail and a large photo lose alike.
    return im.filter(ImageFilter.GaussianBlur(radius=max(1.0, min(im.size) / 150)))


def noise(im: Image.Image) -> Image.Image:
    rng = np.random.default_rng(SEED)
    a = np.asarray(im.convert("RGB"), dtype=np.int16)
    noisy = a + rng.normal(0, 12, size=a.shape).round().astype(np.int16)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")


# --- geometry -------------------------------------------------------------------------------------


def mirror(im: Image.Image) -> Image.Image:
    return ImageOps.mirror(im)


def rotate_90(im: Image.Image) -> Image.Image:
    return im.transpose(Image.Transpose.ROTATE_90)


def crop_center(share: float) -> Step:
    """Keep the middle (1 - share) of the width and of the height."""

    def run(im: Image.Image) -> Image.Image:
        w, h = im.size
        dx, dy = round(w * share / 2), round(h * share / 2)
        return im.crop((dx, dy, w - dx, h - dy))

    return run


def crop_side(side: str, share: float) -> Step:
    """Cut `share` of the image's height (top, bottom) or width (left, right) off one side."""

    def run(im: Image.Image) -> Image.Image:
        w, h = im.size
        dx, dy = round(w * share), round(h * share)
        boxes = {"top": (0, dy, w, h), "bottom": (0, 0, w, h - dy), "left": (dx, 0, w, h),
                 "right": (0, 0, w - dx, h)}
        return im.crop(boxes[side])

    return run


def rotate(degrees: float) -> Step:
    """Rotate, cut away the corners that would show the background (the largest centred rectangle of
    the image's aspect inside the rotated image), and scale back to the original size, as apps do."""

    def run(im: Image.Image) -> Image.Image:
        w, h = im.size
        theta = math.radians(abs(degrees))
        keep = 1 / (math.cos(theta) + max(w / h, h / w) * math.sin(theta))
        turned = im.rotate(degrees, Image.Resampling.BICUBIC, expand=False)
        cw, ch = w * keep, h * keep
        box = (round((w - cw) / 2), round((h - ch) / 2), round((w + cw) / 2), round((h + ch) / 2))
        return turned.crop(box).resize((w, h), Image.Resampling.BICUBIC)

    return run


def stretch(factor: float) -> Step:
    def run(im: Image.Image) -> Image.Image:
        w, h = im.size
        return im.resize((round(w * factor), h), Image.Resampling.BICUBIC)

    return run


def pad_to_aspect(aspect: float, fill: tuple[int, int, int]) -> Step:
    """Pad to width/height = aspect, the image centred: bars above and below when the image is wider
    than the aspect, at its sides when narrower."""

    def run(im: Image.Image) -> Image.Image:
        w, h = im.size
        cw, ch = (w, round(w / aspect)) if w / h > aspect else (round(h * aspect), h)
        canvas = Image.new("RGB", (cw, ch), fill)
        canvas.paste(im, ((cw - w) // 2, (ch - h) // 2))
        return canvas

    return run


def pillarbox(im: Image.Image) -> Image.Image:
    """Black bars left and right, each 20% of the image's width."""
    w, h = im.size
    canvas = Image.new("RGB", (round(w * 1.4), h), (0, 0, 0))
    canvas.paste(im, ((canvas.width - w) // 2, 0))
    return canvas


def pad_blurred(im: Image.Image) -> Image.Image:
    """9:16 portrait: the image centred on a blurred, enlarged copy of itself (stories, reels)."""
    w, h = im.size
    cw, ch = (w, round(w * 16 / 9)) if w / h > 9 / 16 else (round(h * 9 / 16), h)
    k = max(cw / w, ch / h)
    back = im.resize((math.ceil(w * k), math.ceil(h * k)), Image.Resampling.BILINEAR)
    back = back.crop(((back.width - cw) // 2, (back.height - ch) // 2, (back.width - cw) // 2 + cw,
                      (back.height - ch) // 2 + ch))
    back = ImageEnhance.Brightness(back.filter(ImageFilter.GaussianBlur(radius=max(4, cw / 30)))).enhance(0.7)
    back.paste(im, ((cw - w) // 2, (ch - h) // 2))
    return back


# --- overlays -------------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(6, size))


def fitted_font(text: str, width: float, start: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The largest default font of at most `start` px whose rendering of `text` fits in `width`."""
    size = start
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    while size > 6:
        left, _, right, _ = probe.textbbox((0, 0), text, font=font(size))
        if right - left <= width:
            break
        size -= max(1, size // 10)
    return font(size)


def caption(where: str) -> Step:
    """A meme caption: a band 20% of the image's height with text, white above or black below."""
    text = "WHEN YOU SEE IT" if where == "top" else "nobody:  me at 3am"

    def run(im: Image.Image) -> Image.Image:
        w, h = im.size
        band = max(20, round(h * 0.2))
        back, ink = ((255, 255, 255), (0, 0, 0)) if where == "top" else ((0, 0, 0), (255, 255, 255))
        canvas = Image.new("RGB", (w, h + band), back)
        canvas.paste(im, (0, band if where == "top" else 0))
        draw = ImageDraw.Draw(canvas)
        f = fitted_font(text, w * 0.9, round(band * 0.55))
        y = band / 2 if where == "top" else h + band / 2
        draw.text((w / 2, y), text, font=f, fill=ink, anchor="mm")
        return canvas

    return run


def watermark(im: Image.Image) -> Image.Image:
    """Semi-transparent white text with a dark outline in the bottom-right corner, a third as wide."""
    w, h = im.size
    text = "@reupload_channel"
    layer = Image.new("RGBA", im.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    f = fitted_font(text, w / 3, max(8, h // 12))
    margin = max(2, w // 40)
    draw.text((w - margin, h - margin), text, font=f, fill=(255, 255, 255, 170), anchor="rd",
              stroke_width=1, stroke_fill=(0, 0, 0, 170))
    return Image.alpha_composite(im.convert("RGBA"), layer).convert("RGB")


def sticker(im: Image.Image) -> Image.Image:
    """A smiley sticker covering about 10% of the image, in its upper right (not centred)."""
    w, h = im.size
    side = round(math.sqrt(0.10 * w * h / (math.pi / 4)))  # a disc of 10% of the area
    side = min(side, w, h)
    cx, cy = min(w - side / 2, w * 0.72), max(side / 2, h * 0.3)
    out = im.convert("RGB").copy()
    draw = ImageDraw.Draw(out)
    x0, y0 = cx - side / 2, cy - side / 2
    outline = max(1, side // 25)
    draw.ellipse((x0, y0, x0 + side, y0 + side), fill=(255, 204, 0), outline=(120, 70, 0), width=outline)
    eye = side * 0.09
    for ex in (0.34, 0.66):
        ex0, ey0 = x0 + side * ex, y0 + side * 0.36
        draw.ellipse((ex0 - eye, ey0 - eye, ex0 + eye, ey0 + eye), fill=(60, 30, 0))
    mouth = (x0 + side * 0.25, y0 + side * 0.3, x0 + side * 0.75, y0 + side * 0.78)
    draw.arc(mouth, 20, 160, fill=(60, 30, 0), width=max(1, side // 18))
    return out


# --- a phone screenshot ---------------------------------------------------------------------------

PHONE = (720, 1560)  # a phone screen at two thirds of 1080x2340
_CHAT_BG, _HEADER, _BUBBLE = (229, 221, 213), (0, 94, 84), (255, 255, 255)


def screenshot(photo_share: float = 0.72) -> Step:
    """The image as a photo message in a chat app, screenshotted: status bar, chat header, a text bubble,
    the photo in a bubble (`photo_share` of the screen's width at most) on a plain background, and the
    reply bar below. Rendered with Pillow shapes and the default font."""

    def run(im: Image.Image) -> Image.Image:
        sw, sh = PHONE
        screen = Image.new("RGB", PHONE, _CHAT_BG)
        draw = ImageDraw.Draw(screen)
        # Status bar and chat header.
        draw.rectangle((0, 0, sw, 50), fill=(0, 80, 72))
        draw.text((28, 25), "9:41", font=font(24), fill="white", anchor="lm")
        draw.rounded_rectangle((sw - 80, 15, sw - 30, 35), radius=4, outline="white", width=2)
        draw.rectangle((sw - 76, 19, sw - 45, 31), fill="white")
        draw.rectangle((0, 50, sw, 150), fill=_HEADER)
        draw.text((25, 100), "<", font=font(40), fill="white", anchor="lm")
        draw.ellipse((60, 70, 120, 130), fill=(180, 190, 200))
        draw.text((140, 85), "Alex", font=font(30), fill="white", anchor="lm")
        draw.text((140, 118), "online", font=font(20), fill=(210, 230, 225), anchor="lm")
        # A text bubble, then the photo bubble.
        draw.rounded_rectangle((30, 180, 420, 250), radius=16, fill=_BUBBLE)
        draw.text((50, 215), "did you see this??", font=font(26), fill=(20, 20, 20), anchor="lm")
        w, h = im.size
        k = min(sw * photo_share / w, (sh - 500) / h)
        pw, ph = max(1, round(w * k)), max(1, round(h * k))
        px, py = sw - 30 - 8 - pw, 290
        draw.rounded_rectangle((px - 8, py - 8, px + pw + 8, py + ph + 40), radius=16, fill=(220, 248, 198))
        screen.paste(im.convert("RGB").resize((pw, ph), Image.Resampling.BICUBIC), (px, py))
        draw.text((px + pw, py + ph + 20), "21:07", font=font(18), fill=(100, 110, 100), anchor="rm")
        # Reply bar.
        draw.rounded_rectangle((20, sh - 95, sw - 110, sh - 25), radius=35, fill="white")
        draw.text((60, sh - 60), "Message", font=font(26), fill=(150, 150, 150), anchor="lm")
        draw.ellipse((sw - 95, sh - 95, sw - 25, sh - 25), fill=(0, 150, 136))
        return screen

    return run


# --- the registry ---------------------------------------------------------------------------------

_ALL = [
    # photometric and encoding changes: target recall >= 99%
    Transform("jpeg_q30", PHOTOMETRIC, jpeg(30), "JPEG quality 30"),
    Transform("jpeg_q20", PHOTOMETRIC, jpeg(20), "JPEG quality 20"),
    Transform("webp_q40", PHOTOMETRIC, webp(40), "WebP quality 40"),
    Transform("downscale_50", PHOTOMETRIC, scale(0.5), "half the width and height (bicubic)"),
    Transform("thumbnail_128", PHOTOMETRIC, thumbnail(128), "longest side 128 px"),
    Transform("sepia", PHOTOMETRIC, sepia, "sepia tone"),
    Transform("saturation", PHOTOMETRIC, saturation, "colour saturation x1.7"),
    Transform("brightness_contrast", PHOTOMETRIC, brightness_contrast, "brightness x1.15, contrast x1.25"),
    Transform("hue_shift", PHOTOMETRIC, hue_shift, "hue turned about 35 degrees"),
    Transform("grayscale", PHOTOMETRIC, grayscale, "grey levels only"),
    Transform("blur", PHOTOMETRIC, blur, "Gaussian blur, radius 1/150 of the shorter side (>= 1 px)"),
    Transform("noise", PHOTOMETRIC, noise, "Gaussian noise, sigma 12"),
    Transform("downscale_50+jpeg_q30", PHOTOMETRIC, chain(scale(0.5), jpeg(30)), "chain"),
    Transform("saturation+brightness+webp", PHOTOMETRIC, chain(saturation, brightness_contrast, webp(50)),
              "chain"),
    Transform("grayscale+blur+jpeg_q50", PHOTOMETRIC, chain(grayscale, blur, jpeg(50)), "chain"),
    # geometric changes and overlays: target recall >= 95%
    Transform("mirror", GEOMETRIC, mirror, "flipped left-right"),
    Transform("rotate_90", GEOMETRIC, rotate_90, "turned a quarter anticlockwise"),
    Transform("crop_center_5", GEOMETRIC, crop_center(0.05), "middle 95% of width and height"),
    Transform("crop_center_10", GEOMETRIC, crop_center(0.10), "middle 90% of width and height"),
    Transform("crop_top_5", GEOMETRIC, crop_side("top", 0.05), "top 5% of the height cut off"),
    Transform("crop_top_10", GEOMETRIC, crop_side("top", 0.10), "top 10% of the height cut off"),
    Transform("crop_left_5", GEOMETRIC, crop_side("left", 0.05), "left 5% of the width cut off"),
    Transform("crop_left_10", GEOMETRIC, crop_side("left", 0.10), "left 10% of the width cut off"),
    Transform("letterbox_9x16", GEOMETRIC, pad_to_aspect(9 / 16, (0, 0, 0)), "black bars to 9:16 (portrait)"),
    Transform("pillarbox", GEOMETRIC, pillarbox, "black bars at the sides, each 20% of the width"),
    Transform("pad_square_white", GEOMETRIC, pad_to_aspect(1.0, (255, 255, 255)), "white bars to a square"),
    Transform("caption_top", GEOMETRIC, caption("top"), "white meme band above, 20% of the height"),
    Transform("caption_bottom", GEOMETRIC, caption("bottom"), "black caption band below, 20% of the height"),
    Transform("watermark", GEOMETRIC, watermark, "translucent text, bottom right, a third of the width"),
    Transform("sticker", GEOMETRIC, sticker, "smiley over 10% of the area, upper right"),
    Transform("rotate_2", GEOMETRIC, rotate(2), "2 degrees, corners cropped away, original size"),
    Transform("rotate_3", GEOMETRIC, rotate(3), "3 degrees, corners cropped away, original size"),
    Transform("stretch_15", GEOMETRIC, stretch(1.15), "width x1.15"),
    Transform("screenshot", GEOMETRIC, screenshot(), "photo message in a chat app screenshot (PNG)"),
    Transform("crop_center_5+mirror+jpeg_q40", GEOMETRIC, chain(crop_center(0.05), mirror, jpeg(40)),
              "chain"),
    Transform("screenshot+jpeg_q70", GEOMETRIC, chain(screenshot(), jpeg(70)), "chain"),
    Transform("caption_top+downscale_50", GEOMETRIC, chain(caption("top"), scale(0.5)), "chain"),
    # beyond the targets: reported only
    Transform("rotate_5", BEYOND, rotate(5), "5 degrees, corners cropped away, original size"),
    Transform("crop_center_20", BEYOND, crop_center(0.20), "middle 80% of width and height"),
    Transform("crop_left_20", BEYOND, crop_side("left", 0.20), "left 20% of the width cut off"),
    Transform("pad_blurred_9x16", BEYOND, pad_blurred, "on a blurred enlarged copy of itself, 9:16"),
    Transform("screenshot_small", BEYOND, screenshot(0.4), "chat screenshot, photo 40% of the screen width"),
]

TRANSFORMS: dict[str, Transform] = {t.name: t for t in _ALL}
QUICK = ("jpeg_q30", "downscale_50", "grayscale", "mirror", "crop_center_5", "letterbox_9x16", "caption_top",
         "rotate_3", "screenshot", "rotate_5")

