"""The 17 creative-economy subsectors: the vocabulary every service shares.

Members belong to one; certification schemes and events name them.
"""

# The 17 creative-economy subsectors: code -> (Bahasa Indonesia, English).
SUBSECTORS = {
    "aplikasi": ("Aplikasi", "Applications"),
    "pengembang_permainan": ("Pengembang Permainan", "Game Development"),
    "arsitektur": ("Arsitektur", "Architecture"),
    "desain_interior": ("Desain Interior", "Interior Design"),
    "desain_komunikasi_visual": ("Desain Komunikasi Visual", "Visual Communication Design"),
    "desain_produk": ("Desain Produk", "Product Design"),
    "fesyen": ("Fesyen", "Fashion"),
    "film_animasi_video": ("Film, Animasi, dan Video", "Film, Animation and Video"),
    "fotografi": ("Fotografi", "Photography"),
    "kriya": ("Kriya", "Crafts"),
    "kuliner": ("Kuliner", "Culinary"),
    "musik": ("Musik", "Music"),
    "penerbitan": ("Penerbitan", "Publishing"),
    "periklanan": ("Periklanan", "Advertising"),
    "seni_pertunjukan": ("Seni Pertunjukan", "Performing Arts"),
    "seni_rupa": ("Seni Rupa", "Fine Arts"),
    "televisi_radio": ("Televisi dan Radio", "Television and Radio"),
}


def list_subsectors():
    return [{"code": code, "name_id": name_id, "name_en": name_en}
            for code, (name_id, name_en) in SUBSECTORS.items()]
