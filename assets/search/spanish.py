"""What each lakehouse table and dbt mart holds, in Spanish, for the site's documents (no Dagster).

The registry (``lakehouse.tables``) and the dbt ``models:`` files describe tables in English for the people who
build them; the site's visitors read and search in Spanish. Each table and mart document starts with its sentence
here (``assets.search.corpus``), so BM25 and the encoder meet "registros codificados" or "hechos de los censos"
in the visitor's words, and the page shows it. A test keeps the list complete: a new table or mart needs its
sentence.
"""

from __future__ import annotations

DESCRIPTIONS: dict[str, str] = {
    # bronze: as delivered
    "bronze.crime_narratives": "Narraciones de delitos tal como se entregaron, un lote de llegada por partición.",
    "bronze.economic_activity_text": "Respuestas de censos y registros que describen una actividad económica, tal "
                                     "como se entregaron.",
    "bronze.industry_stats": "Exportación de los censos económicos (formato SAIC) tal como se entregó: una fila por "
                             "celda.",
    "bronze.migrant_shelters": "Albergues para migrantes tal como se entregaron.",
    "bronze.municipalities": "Catálogo de municipios tal como se entregó (cifras del censo de población 2020 del "
                             "INEGI).",
    "bronze.news_articles": "Artículos de noticias tal como se entregaron, uno por artículo y archivo.",
    "bronze.rejected_records": "Registros rechazados en la ingesta: los que no pudieron cargarse, o campos que "
                               "quedaron vacíos, con el archivo, el registro, el campo, el valor y el motivo.",
    "bronze.scian_catalog": "Clasificación SCIAN tal como se entregó.",
    # silver: validated
    "silver.coding_feedback": "Decisiones de los codificadores humanos: los códigos que devolvieron al revisar "
                              "(archivos CSV y la mesa de trabajo), con su validación.",
    "silver.coding_training_set": "Registros codificados por personas de los que aprende cada clasificación: "
                                  "códigos de origen corregidos por la revisión.",
    "silver.crime_narratives": "Narraciones de delitos en texto libre, con el código del tipo de delito cuando "
                               "un codificador lo asignó.",
    "silver.economic_activity_text": "Descripciones de actividades económicas en texto libre, con su código SCIAN "
                                     "de seis dígitos cuando se conoce.",
    "silver.industry_stats": "Estadísticas de los censos económicos por sector SCIAN, año censal y geografía "
                             "(montos en millones de pesos; sin imputar lo confidencial).",
    "silver.migrant_shelters": "Albergues para migrantes con su municipio y su capacidad en camas.",
    "silver.municipalities": "Catálogo de municipios de México: clave CVE_GEO, nombres, cabecera municipal y "
                             "población 2020 por sexo.",
    "silver.news_answer_cache": "Respuestas guardadas de cada modelo de lenguaje por texto y versión de "
                                "instrucciones, para no volver a preguntar lo ya contestado.",
    "silver.news_article_locations": "Municipio (CVE_GEO) de cada artículo de noticias, tomado de la fuente o "
                                     "leído en el texto.",
    "silver.news_articles": "Artículos de noticias sin duplicados, con la validez de su municipio.",
    "silver.scian_catalog": "Catálogo SCIAN 2018: la jerarquía de la clasificación de actividades económicas "
                            "(sector, subsector, rama, subrama y clase).",
    "silver.tiles": "Teselas de imágenes satelitales y aéreas recibidas: bandas, sistema de coordenadas, "
                    "límites, resolución y fracción válida.",
    # gold: results
    "gold.coded_records": "Registros codificados automáticamente: el código, su confianza calibrada, los cinco "
                          "candidatos y la decisión (automática, revisión manual o humana).",
    "gold.coding_models": "Versiones de los modelos de codificación automática con sus métricas de validación; "
                          "una es la vigente.",
    "gold.coding_quality": "Calidad de la codificación automática por clasificación, versión del modelo y nivel "
                           "del código, en validación y frente a los códigos de la revisión.",
    "gold.coding_review_queue": "Cola de revisión: registros que esperan a un codificador humano y la muestra de "
                                "auditoría de los codificados automáticamente.",
    "gold.coding_thresholds": "Versiones del umbral de confianza de la codificación automática de cada modelo, "
                              "reestimado con las decisiones de revisión y auditoría.",
    "gold.document_drafts": "Borradores de los documentos «Conociendo la Industria», una fila por versión, con "
                            "las cifras que usan y la verificación de cada número.",
    "gold.document_reviews": "Historial de revisión de los borradores por expertos: aprobado, rechazado o con "
                             "cambios pedidos, quién decidió y su comentario.",
    "gold.image_masks": "Máscaras (segmentos) de cada tesela de imagen con su polígono, área, perímetro y forma.",
    "gold.image_object_summary": "Resumen por tesela y etiqueta: número de objetos, área y proporción del área "
                                 "etiquetada.",
    "gold.image_objects": "Objetos georreferenciados detectados en las imágenes: cada máscara con la etiqueta de "
                          "su grupo.",
    "gold.industry_facts": "Hechos y cifras de los censos económicos que un estudio sectorial puede citar: "
                           "niveles, razones, crecimientos y participaciones por sector, año y lugar.",
    "gold.mask_clusters": "Grupos (conglomerados) de las máscaras de cada lote de imágenes y el nombre que se les "
                          "dio.",
    "gold.migrant_women_mentions_by_municipality": "Menciones de mujeres y niñas migrantes en las noticias por "
                                                   "municipio y modelo de lenguaje.",
    "gold.migration_intensity_indicator": "Índice de intensidad migratoria por municipio a partir de noticias, "
                                          "albergues y camas.",
    "gold.news_llm_answers": "Respuesta de cada modelo de lenguaje por artículo de noticias: si hay mujeres o "
                             "niñas migrantes.",
    "gold.news_majority_vote": "Voto de mayoría de los modelos de lenguaje por artículo de noticias.",
    "gold.news_model_agreement": "Acuerdo entre los modelos de lenguaje (kappa de Cohen y de Fleiss) sobre sus "
                                 "respuestas a las noticias.",
    "gold.published_documents": "Documentos publicados en el sitio web: la última versión aprobada de cada "
                                "borrador.",
    "gold.search_documents": "Documentos del buscador del sitio: clases SCIAN, hechos, perfiles de lugares, "
                             "tablas, marts y documentos publicados.",
    "gold.search_embeddings": "Vectores (incrustaciones) de los documentos del buscador y de sus ejemplos, para "
                              "la búsqueda semántica.",
    # dbt marts and staging views
    "marts.mart_coding_workload": "Carga de trabajo de la codificación automática por clasificación: modelo "
                                  "vigente, precisión, registros codificados y pendientes de revisión.",
    "marts.mart_document_status": "Estado editorial de cada documento «Conociendo la Industria»: borrador, "
                                  "revisión y versión publicada.",
    "marts.mart_land_cover_by_tile": "Cobertura del suelo por tesela de imagen: objetos y área por etiqueta "
                                     "(vegetación, agua, suelo desnudo, construido, caminos).",
    "marts.stg_municipalities": "Catálogo de municipios para cruces (vista de dbt).",
    "marts.stg_industry_stats": "Estadísticas de los censos económicos, variables principales (vista de dbt).",
    "marts.stg_news_articles": "Artículos de noticias sin duplicados (vista de dbt).",
    "marts.mart_municipality_profile": "Perfil por municipio: población, albergues, camas y cobertura de "
                                       "noticias.",
    "marts.mart_industry_sector_year": "Indicadores de los censos económicos por sector, año censal y lugar, con "
                                       "productividad y salarios.",
    "marts.mart_news_migration_intensity": "Intensidad migratoria por municipio según las noticias, con sus "
                                           "componentes y lo que dice cada modelo.",
    "marts.mart_search_corpus": "Estadísticas del corpus del buscador por tipo de documento y modelo de "
                                "vectores.",
}


def description(key: str) -> str:
    """The Spanish sentence of a table or mart (``layer.name`` / ``marts.name``); '' when it has none."""
    return DESCRIPTIONS.get(key, "")
